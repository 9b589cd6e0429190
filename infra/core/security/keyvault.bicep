// The Key Vault that holds the rotated certificates (one certificate per credential, one version per key
// generation; phases live in the versions' tags) and, optionally, the Kong RBAC token.
// RBAC mode only (no access policies): the roles are assigned in app/rbac.bicep.
// Also used for vault-reference mode's vault of its own (main.bicep referenceVault, roles in
// app/kong-vault-rbac.bicep), without a Kong token.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Purge protection cannot be turned off once on. Recommended for production: a deleted vault (and every key generation in it) stays recoverable for the retention period.')
param enablePurgeProtection bool = true

@description('Name of the secret holding the Kong RBAC token (read by the Function App through a Key Vault reference). Empty: none.')
param kongAdminTokenSecretName string = ''

@description('Log Analytics workspace that receives the vault\'s AuditEvent log: every read of a private-key secret, every sign and every certificate change, with the caller\'s identity.')
param logAnalyticsWorkspaceId string

@description('Public network access to the vault: "Enabled" (default) or "Disabled" (then only private endpoints reach it, and the Function App needs VNet integration into a network that resolves privatelink.vaultcore.azure.net).')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

@description('Optional firewall: public IPv4 addresses or CIDR ranges allowed to reach the vault. When set, everything else is denied (trusted Azure services still bypass). Empty: no firewall.')
param allowedIpRanges array = []

@description('Optional firewall: subnet resource ids (with the Microsoft.KeyVault service endpoint) allowed to reach the vault, e.g. the Function App\'s integration subnet.')
param allowedSubnetIds array = []

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
    publicNetworkAccess: publicNetworkAccess
    // Deny by default as soon as a firewall rule is given; trusted Azure services (Key Vault references of
    // App Service among them) still bypass.
    networkAcls: {
      defaultAction: empty(allowedIpRanges) && empty(allowedSubnetIds) ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
      ipRules: [for ip in allowedIpRanges: { value: ip }]
      virtualNetworkRules: [for subnetId in allowedSubnetIds: { id: subnetId, ignoreMissingVnetServiceEndpoint: false }]
    }
  }
}

resource kongToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(kongAdminToken) && !empty(kongAdminTokenSecretName)) {
  parent: vault
  name: kongAdminTokenSecretName
  properties: {
    value: kongAdminToken
    contentType: 'text/plain; Kong RBAC token (Kong-Admin-Token header)'
  }
}

// Audit every data-plane operation (secret reads of the PEM, signs, certificate and tag writes) to Log
// Analytics: the AzureDiagnostics / KeyVault tables then answer "who read this private key, when".
// https://learn.microsoft.com/azure/key-vault/general/logging ; resource type:
// https://learn.microsoft.com/azure/templates/microsoft.insights/diagnosticsettings . The API version is a
// preview one: diagnostic settings have no later stable version (2016-09-01 predates
// logAnalyticsDestinationType), and 2021-05-01-preview is the one Microsoft's templates use.
resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
