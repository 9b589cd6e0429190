// Azure RBAC for the service identity (and, optionally, an operator who runs the CLI against the same
// resources). Each role is scoped to the one resource it is for. Role definition ids are the built-in ones:
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
//
// Microsoft Graph permissions are NOT Azure RBAC and are not granted here: see scripts/graph-permissions.sh
// and docs/permissions.md. Kong RBAC lives in Kong.
param identityPrincipalId string
param storageAccountName string
param keyVaultName string
param applicationInsightsName string

@description('Optional object id of an operator (user or group) who reads with the CLI (status, plan, doctor) against these resources; changes go through the HTTP API.')
param operatorPrincipalId string = ''
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('The rotator\'s own blob containers (lease, alert state, run history): the only storage an operator gets.')
param rotatorContainerNames array

@description('The Key Vault certificates the configuration rotates (each credential\'s certificateName). When given, the identity reads only their secrets (the PEM) and signs only with their keys; empty: both roles at vault scope.')
param certificateNames array = []

@description('The Key Vault secrets the configuration reads by name (KONG_ADMIN_TOKEN\'s secret, every { keyVaultSecret } reference): the identity reads each (Key Vault Secrets User), the operator sets each (Key Vault Secrets Officer), on that secret alone.')
param referenceSecretNames array = []

var roles = {
  // Host storage with an identity needs Blob Data Owner (timer locks, keys); it includes everything the
  // rotator's lease, alert state and run history need (Blob Data Contributor).
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // The Functions host persists its diagnostic events in tables through AzureWebJobsStorage: "No extension
  // (host only), with support for diagnostic events: Storage Blob Data Owner, Storage Table Data Contributor"
  // (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
  // The rotator itself uses no table; the host creates one table per month, so no narrower scope exists.
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  // Create certificate versions, list them, update tags and enabled.
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  // Read the certificate's PEM (secret) to push the private JWK to Kong; resolve KONG_ADMIN_TOKEN.
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Sign Graph proofs and client assertions with the key inside the vault.
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  // Operator only: set the reference secrets (the Kong token and the other { keyVaultSecret } values).
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  // Operator only: read metadata of certificates, keys and secrets (versions, tags, public certificates);
  // no secret value, no key material, no write (https://learn.microsoft.com/azure/key-vault/general/rbac-guide).
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2'
  // Send telemetry with Entra auth (local auth is disabled on the component).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Queue access is granted on the two work queues only (app/queues.bicep), not on the account.
var storageRoles = [
  roles.storageBlobDataOwner
  roles.storageTableDataContributor
]

// Key Vault, the service identity. Azure RBAC scopes a Key Vault role to one secret or one key ("Azure
// RBAC for key vault also allows users to have separate permissions on individual keys, secrets, and
// certificates": https://learn.microsoft.com/azure/key-vault/general/rbac-guide), and a certificate's key and
// secret carry the certificate's name. With certificateNames set:
// - Key Vault Secrets User on each certificate's secret (its PEM: the private JWK pushed to Kong) and on each
//   reference secret (referenceSecretNames: the Kong token, { keyVaultSecret } references);
// - Key Vault Crypto User on each certificate's key (signing Graph proofs and client assertions);
// - Key Vault Certificates Officer stays at vault scope: a template cannot name a certificate as a scope
//   (Microsoft.KeyVault 2023-07-01 has resource types for vaults/keys and vaults/secrets, none for
//   certificates), and listing the vault's certificates (doctor, status) is a vault-wide action. The role
//   cannot read a secret or use a key.
// Without certificateNames every role stays at vault scope, as a first deployment needs before the
// certificates exist (docs/permissions.md, "Key Vault scope").
var scopeToObjects = !empty(certificateNames)
var vaultRoles = scopeToObjects
  ? [roles.keyVaultCertificatesOfficer]
  : [roles.keyVaultCertificatesOfficer, roles.keyVaultSecretsUser, roles.keyVaultCryptoUser]

resource certificateSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [
  for name in certificateNames: {
    parent: vault
    name: name
  }
]

resource certificateKeys 'Microsoft.KeyVault/vaults/keys@2023-07-01' existing = [
  for name in certificateNames: {
    parent: vault
    name: name
  }
]

resource referenceSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [
  for name in referenceSecretNames: {
    parent: vault
    name: name
  }
]

resource identityStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, identityPrincipalId, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource identityVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in vaultRoles: {
    name: guid(vault.id, identityPrincipalId, role)
    scope: vault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource identityCertificateSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in certificateNames: {
    name: guid(certificateSecrets[i].id, identityPrincipalId, roles.keyVaultSecretsUser)
    scope: certificateSecrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource identityCertificateKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in certificateNames: {
    name: guid(certificateKeys[i].id, identityPrincipalId, roles.keyVaultCryptoUser)
    scope: certificateKeys[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource identityReferenceSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in (scopeToObjects ? referenceSecretNames : []): {
    name: guid(referenceSecrets[i].id, identityPrincipalId, roles.keyVaultSecretsUser)
    scope: referenceSecrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource identityTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The operator reads with the CLI (status, plan, doctor) and changes through the HTTP API. Key Vault:
// - Key Vault Reader at vault scope: certificate versions and tags, no secret value, no key material, no
//   write (Certificates Officer could write the `rotator-request` tag, which the engine obeys, and Crypto
//   User could sign as every client Kong represents);
// - Key Vault Secrets Officer on each reference secret only (the Kong token and the other { keyVaultSecret }
//   values it sets), never at vault scope, where it would read every certificate's private key.
// Storage: Blob Data Contributor on the rotator's three containers only (the CLI uses the lease, alert state
// and history), not on the account (the host's keys and locks, azure-webjobs-*), and nothing on the package
// account (the code that runs as the service identity). The rotator uses no queue or table, so the operator
// gets no queue or table role.
var operatorVaultRoles = [
  roles.keyVaultReader
]

resource rotatorContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [
  for c in rotatorContainerNames: {
    name: '${storageAccountName}/default/${c}'
  }
]

resource operatorStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (c, i) in (empty(operatorPrincipalId) ? [] : rotatorContainerNames): {
    name: guid(rotatorContainers[i].id, operatorPrincipalId, roles.storageBlobDataContributor)
    scope: rotatorContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

resource operatorVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (empty(operatorPrincipalId) ? [] : operatorVaultRoles): {
    name: guid(vault.id, operatorPrincipalId, role)
    scope: vault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]

resource operatorReferenceSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in (empty(operatorPrincipalId) ? [] : referenceSecretNames): {
    name: guid(referenceSecrets[i].id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
    scope: referenceSecrets[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
      principalId: operatorPrincipalId
      principalType: operatorPrincipalType
    }
  }
]
