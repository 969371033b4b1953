// Everything the interviewer runs on, in one resource group (deployed by main.bicep).

param environmentName string
param location string
param voiceLiveLocation string
param voiceLiveModel string
param voiceLiveVoice string
param twilioPhoneNumber string
param twilioAccountSid string
@secure()
param twilioAuthToken string
@secure()
param apiToken string
@secure()
param postgresAdminPassword string
param maxConcurrentCalls int
param maxReplicas int
param imageName string
param tags object

@description('Email address for alerts; none are sent when empty.')
param alertEmail string = ''
@description('Entra ID app registration (client id) for the console; empty: API_TOKEN sign-in.')
param consoleEntraClientId string = ''
@description('Days call recordings are kept before the storage lifecycle rule deletes them')
param recordingRetentionDays int = 90

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var appName = 'ca-bot-${token}'
var postgresAdmin = 'botadmin'
// Container Apps' longest termination grace period; the bot drains for 30 s less, leaving time
// for the closing line, the goodbye and Twilio's last request (bot/http/drain.py).
var terminationGracePeriodSeconds = 600
var drainTimeoutSeconds = terminationGracePeriodSeconds - 60 // wrap-up 45 s + action 5 s + margin
var roles = {
  acrPull: '7f951dca-d7cb-4b5b-8bde-2e1ab5ab2f4c'
  cognitiveServicesUser: 'a97b65f3-24c7-4388-baec-2e87135dc908'
  // Foundry User (formerly Azure AI User): Voice Live wants it as well as Cognitive Services
  // User, or the handshake can be refused 401/403.
  foundryUser: '53ca6127-db72-4b80-b1b0-d745d6d5456d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// ---- call recordings (infra/recordings.bicep) ---------------------------------------------

module recordings 'recordings.bicep' = {
  name: 'recordings'
  params: {
    location: location
    tags: tags
    token: token
    principalId: identity.properties.principalId
    retentionDays: recordingRetentionDays
  }
}

// ---- monitoring ---------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: false // the connection string's key is how the OpenTelemetry exporter sends
  }
}

// ---- identity and secrets -----------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-bot-${token}'
  location: location
  tags: tags
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Consumption Container Apps have no fixed outbound address or VNet here; access is by RBAC and the app's managed identity only
  // checkov:skip=CKV_AZURE_189: same reason: the app reaches the vault over its public endpoint
  // checkov:skip=CKV2_AZURE_32: a private endpoint needs a VNet-integrated environment (see docs/deploy.md, "Hardening")
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

// Rotated by people (docs/deploy.md, "Rotate a secret"): an expiry date would stop every call
// without warning, hence the CKV_AZURE_41 skips.
resource twilioAuthTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: rotated by people, see above
  parent: vault
  name: 'twilio-auth-token'
  properties: { value: twilioAuthToken, contentType: 'text/plain' }
}

resource apiTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: rotated by people, see above
  parent: vault
  name: 'api-token'
  properties: { value: apiToken, contentType: 'text/plain' }
}

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: rotated by people, see above
  parent: vault
  name: 'database-url'
  properties: {
    value: 'postgresql://${postgresAdmin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/bot?sslmode=require'
    contentType: 'text/plain'
  }
}

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---- Voice Live ---------------------------------------------------------------------------

resource voiceLive 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_134: the consumption environment has no VNet for a private endpoint; keys are disabled and only the bot's identity holds a role
  // checkov:skip=CKV_AZURE_247: same reason as CKV_AZURE_134
  name: 'ais-${token}'
  location: voiceLiveLocation
  tags: tags
  kind: 'AIServices'
  sku: { name: 'S0' }
  identity: { type: 'SystemAssigned' }
  properties: {
    customSubDomainName: 'ais-${token}'
    disableLocalAuth: true // no API keys: Entra ID only (the bot's managed identity)
    publicNetworkAccess: 'Enabled'
  }
}

resource voiceLiveUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(voiceLive.id, identity.id, roles.cognitiveServicesUser)
  scope: voiceLive
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource voiceLiveFoundryUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(voiceLive.id, identity.id, roles.foundryUser)
  scope: voiceLive
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.foundryUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---- the call log -------------------------------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  // checkov:skip=CKV_AZURE_136: geo-redundant backup is a cost choice; turn it on in backup below for a multi-region recovery plan
  name: 'psql-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: postgresAdmin
    administratorLoginPassword: postgresAdminPassword
    storage: { storageSizeGB: 32, autoGrow: 'Enabled' }
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    authConfig: { activeDirectoryAuth: 'Disabled', passwordAuth: 'Enabled' }
    network: { publicNetworkAccess: 'Enabled' }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'bot'
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// Consumption Container Apps connect from Azure addresses that are not fixed: admit Azure
// services only (0.0.0.0), TLS required by the server, password from Key Vault.
resource postgresFromAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAzureServices'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
}

// ---- the app ------------------------------------------------------------------------------

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: azd pushes from the operator's machine; pulls use the managed identity, admin user off
  // checkov:skip=CKV_AZURE_163: vulnerability scanning is Defender for Containers, enabled per subscription
  // checkov:skip=CKV_AZURE_164: image signing (content trust) needs the Premium tier
  // checkov:skip=CKV_AZURE_165: geo-replication needs the Premium tier
  // checkov:skip=CKV_AZURE_166: quarantine needs the Premium tier
  // checkov:skip=CKV_AZURE_167: retention of untagged manifests needs the Premium tier
  // checkov:skip=CKV_AZURE_233: zone redundancy needs the Premium tier
  // checkov:skip=CKV_AZURE_237: dedicated data endpoints need the Premium tier
  name: 'cr${token}'
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

resource registryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-${token}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'bot' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  dependsOn: [vaultSecretsUser, registryPull, voiceLiveUser, voiceLiveFoundryUser, database, postgresFromAzure]
  properties: {
    environmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http' // HTTP/1.1, with WebSocket upgrades for /twilio/media
        allowInsecure: false
      }
      registries: [{ server: registry.properties.loginServer, identity: identity.id }]
      // Secrets are Key Vault references read with the managed identity: no value in the app.
      secrets: [
        { name: 'twilio-auth-token', keyVaultUrl: twilioAuthTokenSecret.properties.secretUri, identity: identity.id }
        { name: 'api-token', keyVaultUrl: apiTokenSecret.properties.secretUri, identity: identity.id }
        { name: 'database-url', keyVaultUrl: databaseUrlSecret.properties.secretUri, identity: identity.id }
        { name: 'appinsights-connection-string', value: insights.properties.ConnectionString }
      ]
    }
    template: {
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      containers: [
        {
          name: 'bot'
          image: empty(imageName) ? 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest' : imageName
          // One bot process, one core: 60 calls at ~0.35 CPU-s per call-minute use ~0.35 of it; the
          // latency tail, not the CPU, sets the capacity (docs/deploy.md, "Capacity and scaling")
          resources: { cpu: json('1.0'), memory: '2Gi' }
          // The secretRef lines name Container Apps secrets (no values): CKV_SECRET_6 is a false positive.
          env: [
            { name: 'PUBLIC_URL', value: 'https://${appName}.${environment.properties.defaultDomain}' }
            { name: 'TWILIO_ACCOUNT_SID', value: twilioAccountSid }
            { name: 'TWILIO_PHONE_NUMBER', value: twilioPhoneNumber }
            { name: 'TWILIO_AUTH_TOKEN', secretRef: 'twilio-auth-token' } // checkov:skip=CKV_SECRET_6: a secret's name
            { name: 'API_TOKEN', secretRef: 'api-token' } // checkov:skip=CKV_SECRET_6: a secret's name
            { name: 'DATABASE_URL', secretRef: 'database-url' } // checkov:skip=CKV_SECRET_6: a secret's name
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', secretRef: 'appinsights-connection-string' } // checkov:skip=CKV_SECRET_6: a secret's name
            { name: 'VOICE_LIVE_ENDPOINT', value: 'https://${voiceLive.properties.customSubDomainName}.services.ai.azure.com' }
            { name: 'VOICE_LIVE_MODEL', value: voiceLiveModel }
            { name: 'VOICE_LIVE_VOICE', value: voiceLiveVoice }
            { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId } // no VOICE_LIVE_API_KEY: Entra ID
            { name: 'RECORDINGS_URL', value: recordings.outputs.url } // Blob Storage, managed identity
            { name: 'DRAIN_TIMEOUT_S', value: string(drainTimeoutSeconds) }
            { name: 'MAX_CONCURRENT_CALLS', value: string(maxConcurrentCalls) }
            { name: 'LOG_FORMAT', value: 'json' }
            { name: 'CONSOLE_AUTH', value: empty(consoleEntraClientId) ? 'token' : 'easyauth' }
          ]
          probes: [
            { type: 'Startup', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 2, failureThreshold: 30 }
            { type: 'Liveness', httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10, failureThreshold: 3 }
            { type: 'Readiness', httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 5, failureThreshold: 1, successThreshold: 1 }
          ]
        }
      ]
      scale: {
        minReplicas: 1 // a caller never waits for a cold start
        maxReplicas: maxReplicas
        rules: [
          {
            // Each call holds one WebSocket, an in-flight request: add a replica when the
            // average passes half of what one replica takes, long before any call is refused.
            name: 'concurrent-calls'
            http: { metadata: { concurrentRequests: string(maxConcurrentCalls / 2) } }
          }
          {
            name: 'cpu'
            custom: { type: 'cpu', metadata: { type: 'Utilization', value: '70' } }
          }
        ]
      }
    }
  }
}

// The console's sign-in with Entra ID (CONSOLE_AUTH=easyauth) when an app registration is given.
// Anonymous requests still reach the app (Twilio's webhooks and media stream, /api with its
// bearer token, the probes): the console itself sends a visitor without a principal to
// /.auth/login/aad, and the platform sets X-MS-CLIENT-PRINCIPAL* (and drops any a client sent).
resource consoleAuth 'Microsoft.App/containerApps/authConfigs@2024-03-01' = if (!empty(consoleEntraClientId)) {
  parent: app
  name: 'current'
  properties: {
    platform: { enabled: true }
    globalValidation: { unauthenticatedClientAction: 'AllowAnonymous' }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleEntraClientId
          openIdIssuer: '${az.environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: ['api://${consoleEntraClientId}'] }
      }
    }
  }
}

// ---- alerts (docs/deploy.md says what each one means) --------------------------------------

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-bot-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'botalerts'
    enabled: true
    emailReceivers: [{ name: 'oncall', emailAddress: alertEmail, useCommonAlertSchema: true }]
  }
}

var alertRules = [
  {
    name: 'calls-failing'
    description: 'Calls ended with engine_unavailable, voicelive_closed or error in the last 15 minutes'
    severity: 1
    query: 'ContainerAppConsoleLogs_CL | where ContainerAppName_s == "${appName}" | where Log_s has "call.ended" | where Log_s has_any ("engine_unavailable", "voicelive_closed", "reason\\":\\"error")'
    threshold: 2
  }
  {
    name: 'calls-refused'
    description: 'Callers heard "busy" or "call back" (capacity or drain) in the last 15 minutes'
    severity: 2
    query: 'ContainerAppConsoleLogs_CL | where ContainerAppName_s == "${appName}" | where Log_s has "call.refused"'
    threshold: 0
  }
  {
    name: 'drain-cut-calls'
    description: 'A drain reached DRAIN_TIMEOUT_S and asked running calls to wrap up'
    severity: 3
    query: 'ContainerAppConsoleLogs_CL | where ContainerAppName_s == "${appName}" | where Log_s has "drain.timeout"'
    threshold: 0
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in alertRules: if (!empty(alertEmail)) {
  name: 'alert-${rule.name}-${token}'
  location: location
  tags: tags
  properties: {
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [logs.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}]

output registryLoginServer string = registry.properties.loginServer
output environmentId string = environment.id
output keyVaultName string = vault.name
output publicUrl string = 'https://${app.properties.configuration.ingress.fqdn}'
output voiceLiveEndpoint string = 'https://${voiceLive.properties.customSubDomainName}.services.ai.azure.com'
