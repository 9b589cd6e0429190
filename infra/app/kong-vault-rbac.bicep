// Vault-reference mode (README "Vault-reference mode", docs/permissions.md): the Key Vault that holds only
// the reference secrets (one JSON secret of the private JWK members per key generation), and who may do
// what on it. Deployed only when main.bicep's kongPrincipalId is set.
//
// Why a vault of its own: Kong's identity needs Key Vault Secrets User to resolve {vault://...} references.
// On the certificates' vault that role would also read every certificate's backing secret, i.e. every
// credential's private key. Azure RBAC can scope a role to one secret
// (https://learn.microsoft.com/azure/key-vault/general/rbac-guide, "individual keys, secrets, and
// certificates"), but the secret names change with every generation and the assignment would have to exist
// before each new secret is read, so the vault is the tightest scope that works.
param keyVaultName string

@description('Object id of Kong\'s identity (managed identity or service principal its Azure vault authenticates as).')
param kongPrincipalId string
@allowed(['User', 'Group', 'ServicePrincipal'])
param kongPrincipalType string = 'ServicePrincipal'

@description('The rotator\'s identity: writes each generation\'s secret, reads it back, disables it when the generation retires.')
param identityPrincipalId string

@description('Optional operator who runs the CLI (doctor reads the referenced secret; rotate writes it).')
param operatorPrincipalId string = ''
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

var roles = {
  // get secret: all Kong's vault needs (GET {vault_uri}/secrets/{name}).
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // set, get, update (disable) secrets: the rotator's lifecycle of the reference secrets.
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource kongReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, kongPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: kongPrincipalId
    principalType: kongPrincipalType
  }
}

resource rotatorWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
