// The Function App's storage account, reached with the managed identity only: shared keys are disabled,
// so there is no connection string anywhere (AzureWebJobsStorage__* settings point at the service URIs).
// It holds:
//   - the host's own state (timer singleton locks, function keys, diagnostic events);
//   - the rotator's state: the per-credential lease (rotator-locks), alert state (rotator-alerts) and run
//     history (rotator-runs). They are created here so that an operator's role can be scoped to them
//     (app/rbac.bicep); the rotator would otherwise create them on first use.
// The deployment package is not here: it lives in an account of its own (package-storage.bicep), on which the
// service identity, which has Storage Blob Data Owner on this one for the host, has no role.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('The rotator\'s own containers (lease, alert state, run history).')
param rotatorContainerNames array

@description('Public network access: "Enabled" (default) or "Disabled" (then only private endpoints reach the blob, queue and table services: main.bicep storagePrivateEndpointSubnetId, and the Function App needs VNet integration).')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    // Identity-based access only: https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Disabled' ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'
  }
}

resource rotatorContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in rotatorContainerNames: {
    parent: storage::blobServices
    name: c
    properties: { publicAccess: 'None' }
  }
]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output rotatorContainerNames array = [for (c, i) in rotatorContainerNames: rotatorContainers[i].name]
