// The Key Vault that holds the rotated certificates (one certificate per credential, one version per key
// generation; phases live in the versions' tags) and, optionally, the Kong RBAC token.
// RBAC mode only (no access policies): the roles are assigned in app/rbac.bicep.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Purge protection cannot be turned off once on. Recommended for production: a deleted vault (and every key generation in it) stays recoverable for the retention period.')
param enablePurgeProtection bool = true

@description('Name of the secret holding the Kong RBAC token (read by the Function App through a Key Vault reference).')
param kongAdminTokenSecretName string

@secure()
@description('Optional: the Kong RBAC token. When given, it is stored as the secret above. Leave empty to set the secret yourself (az keyvault secret set) and keep it out of the deployment.')
param kongAdminToken string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    // Azure RBAC data-plane authorization: https://learn.microsoft.com/azure/key-vault/general/rbac-guide
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The API refuses an explicit false; null leaves it off.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource kongToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(kongAdminToken)) {
  parent: vault
  name: kongAdminTokenSecretName
  properties: {
    value: kongAdminToken
    contentType: 'text/plain; Kong RBAC token (Kong-Admin-Token header)'
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
