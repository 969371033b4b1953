// Call recordings (issue 16): a storage account and container the app writes with its managed
// identity (no keys), and a lifecycle rule deleting recordings after the retention period.

param location string
param tags object
param token string
param principalId string // the app's user-assigned identity
param retentionDays int = 90

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_33: no queues are used in this account
  // checkov:skip=CKV_AZURE_43: the name is 'strec' and the 13 characters of uniqueString(): lowercase letters and digits, 18 in all
  // checkov:skip=CKV_AZURE_35: Consumption Container Apps have no fixed outbound address or VNet here; access is by RBAC and the app's managed identity only
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35 (shared keys are disabled)
  // checkov:skip=CKV_AZURE_206: recordings are kept in one region (zone-redundant); geo-replication is a cost choice
  // checkov:skip=CKV2_AZURE_1: Microsoft-managed keys; a customer-managed key needs a key rotation plan (see docs/deploy.md)
  // checkov:skip=CKV2_AZURE_33: a private endpoint needs a VNet-integrated environment (see docs/deploy.md, "Hardening")
  // checkov:skip=CKV2_AZURE_41: shared keys and SAS are disabled altogether
  name: 'strec${take(token, 17)}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Entra ID only: the app's managed identity
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 } // a deletion can be undone for a week
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'recordings'
  properties: { publicAccess: 'None' }
}

// Recordings older than the retention period are deleted by Azure (the app's sweeper and the
// erasure route delete earlier; this is the backstop).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-recordings'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: [ 'blockBlob' ], prefixMatch: [ 'recordings/' ] }
            actions: {
              baseBlob: { delete: { daysAfterModificationGreaterThan: retentionDays } }
              snapshot: { delete: { daysAfterCreationGreaterThan: retentionDays } }
            }
          }
        }
      ]
    }
  }
}

resource contributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, storageBlobDataContributor)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output url string = '${account.properties.primaryEndpoints.blob}${container.name}'
