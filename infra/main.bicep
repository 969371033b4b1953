// `azd up` entry point: one resource group holding everything the interviewer needs.
targetScope = 'subscription'

@minLength(1)
@maxLength(48)
@description('azd environment name; names the resource group and every resource in it.')
param environmentName string

@minLength(1)
@description('Azure region for the app, its database and monitoring.')
param location string

@description('Region of the Voice Live (Azure AI Services) resource, if not `location`: Voice Live is not in every region.')
param voiceLiveLocation string = ''

@description('Realtime model Voice Live runs (VOICE_LIVE_MODEL).')
param voiceLiveModel string = 'gpt-realtime'

@description('Voice the interviewer speaks with (VOICE_LIVE_VOICE).')
param voiceLiveVoice string = 'en-US-AvaNeural'

@description('The Twilio number candidates call and are called from, E.164 (TWILIO_PHONE_NUMBER).')
param twilioPhoneNumber string

@description('Twilio account SID, AC followed by 32 hex digits (TWILIO_ACCOUNT_SID).')
param twilioAccountSid string

@secure()
@description('Twilio auth token: stored in Key Vault, never in the app definition.')
param twilioAuthToken string

@secure()
@description('Bearer token for /api/*: stored in Key Vault.')
param apiToken string

@secure()
@description('Password of the PostgreSQL administrator: stored in Key Vault inside DATABASE_URL.')
param postgresAdminPassword string

@description('Calls one replica takes before it answers "busy" (MAX_CONCURRENT_CALLS).')
param maxConcurrentCalls int = 60 // docs/deploy.md, "Capacity and scaling"

@minValue(1)
@description('Most replicas the app scales out to.')
param maxReplicas int = 10

@description('Email address for the alerts in docs/deploy.md; none when empty.')
param alertEmail string = ''

@description('Container image; azd sets it on deploy (a placeholder until the first deploy).')
param imageName string = ''

@description('Entra ID app registration (client id) for the console\'s sign-in; empty: API_TOKEN.')
param consoleEntraClientId string = ''

var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    voiceLiveLocation: empty(voiceLiveLocation) ? location : voiceLiveLocation
    voiceLiveModel: voiceLiveModel
    consoleEntraClientId: consoleEntraClientId
    voiceLiveVoice: voiceLiveVoice
    twilioPhoneNumber: twilioPhoneNumber
    twilioAccountSid: twilioAccountSid
    twilioAuthToken: twilioAuthToken
    apiToken: apiToken
    postgresAdminPassword: postgresAdminPassword
    maxConcurrentCalls: maxConcurrentCalls
    maxReplicas: maxReplicas
    imageName: imageName
    alertEmail: alertEmail
    tags: tags
  }
}

// azd reads these outputs into its environment (AZURE_CONTAINER_REGISTRY_ENDPOINT for pushes).
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = resources.outputs.registryLoginServer
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = resources.outputs.environmentId
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output PUBLIC_URL string = resources.outputs.publicUrl
output VOICE_LIVE_ENDPOINT string = resources.outputs.voiceLiveEndpoint
