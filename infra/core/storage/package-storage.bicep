// The storage account that holds only the Function App's deployment package, apart from the host's storage
// account: the service identity (which reads every private key, and whose code this package is) has no role
// on it, so that identity cannot replace its own code.
//
// Flex Consumption reads the package from a blob container with the identity named in
// functionAppConfig.deployment.storage.authentication, and writes it there when the app is deployed: "When you
// use a user-assigned managed identity, the provided identity gets linked to the function app. The Storage
// Blob Data Contributor role scoped to the deployment storage account also gets assigned to the identity"
// (https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#configure-deployment-settings).
// That identity is a deployment identity of its own (main.bicep), with Storage Blob Data Contributor on the
// package container only. Shared keys are disabled: no connection string exists for this account.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Blob container the Flex Consumption app is deployed from.')
param containerName string

@description('Principal id of the deployment identity (the only identity with a role here).')
param deploymentPrincipalId string

@description('Public network access: Enabled (default) or Disabled (then only a private endpoint reaches the account: main.bicep storagePrivateEndpointSubnetId).')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
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

    resource container 'containers' = {
      name: containerName
      properties: { publicAccess: 'None' }
    }
  }
}

resource deployerWrites 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage::blobServices::container.id, deploymentPrincipalId, storageBlobDataContributor)
  scope: storage::blobServices::container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: deploymentPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = storage.id
output name string = storage.name
output containerUrl string = '${storage.properties.primaryEndpoints.blob}${containerName}'
