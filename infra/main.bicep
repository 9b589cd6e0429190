// kong-entra-key-rotator: everything the service needs in one resource group.
//
//   azd up          (azure.yaml; parameters from infra/main.parameters.json and `azd env set`)
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=... location=... alertEmail=...
//
// Resources: a user-assigned managed identity; a Flex Consumption Function App (Node.js 22) running as that
// identity; its storage account (identity-only, no shared keys); the deployment package in a storage account
// of its own, written and read by a deployment identity (the service identity has no role on it); a Key Vault
// in RBAC mode for the rotated certificates and the Kong token; Log Analytics + Application Insights (Entra
// auth); an action group and four log alert rules on the rotator's events; optionally a VNet for a private
// Kong Admin API, private endpoints for the vaults and the storage accounts, and the AKS API server's address
// for Kubernetes targets with Microsoft Entra authentication.
// Microsoft Graph permissions are granted separately (scripts/graph-permissions.sh, docs/permissions.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used for the resource group name and a unique suffix for all resources.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group name; rg-<environmentName> when empty.')
param resourceGroupName string = ''

@minLength(3)
@description('E-mail address that receives the rotator alerts.')
param alertEmail string

// ---- rotator settings (app settings the code reads) ----

@description('Path of the rotator configuration inside the deployed package (ROTATOR_CONFIG). Put rotator.yaml at the repository root before `azd deploy`.')
param rotatorConfigPath string = './rotator.yaml'

@description('Rotation timer, NCRONTAB with six fields (ROTATION_SCHEDULE). Hourly by default.')
param rotationSchedule string = '0 0 * * * *'

@description('Hours between two rotation timer runs; must match rotationSchedule. Drives the dead-man alert window (3x).')
@minValue(1)
@maxValue(15)
param rotationIntervalHours int = 1

@description('Drift check timer, NCRONTAB with six fields (SYNC_CHECK_SCHEDULE). Every 15 minutes by default.')
param syncCheckSchedule string = '0 */15 * * * *'

@description('Time budget of one manual rotation over HTTP (ROTATE_HTTP_BUDGET), ISO-8601; below the 230 s HTTP limit.')
param rotateHttpBudget string = 'PT3M'

@description('Key Vault secret holding the Kong RBAC token (KONG_ADMIN_TOKEN is a reference to it).')
param kongAdminTokenSecretName string = 'kong-admin-token'

@secure()
@description('Optional: the Kong RBAC token, stored in the secret above. Leave empty and set the secret yourself to keep it out of the deployment.')
param kongAdminToken string = ''

// ---- network ----

@description('Existing subnet (resource id) delegated to Microsoft.App/environments, for VNet integration with a private Kong Admin API. Takes precedence over vnetAddressPrefix.')
param vnetIntegrationSubnetId string = ''

@description('When set (e.g. 10.70.0.0/24) and vnetIntegrationSubnetId is empty, create a VNet with a delegated subnet; peer it with Kong\'s network yourself.')
param vnetAddressPrefix string = ''

@description('Integration subnet prefix inside vnetAddressPrefix (e.g. 10.70.0.0/26).')
param vnetAppSubnetPrefix string = ''

// ---- operations ----

@description('Optional object id of an operator (user or group) granted what reading with the CLI needs, and Secrets Officer on the reference secrets only (docs/permissions.md).')
param operatorPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('Key Vault purge protection (cannot be turned off once on).')
param keyVaultPurgeProtection bool = true

// ---- Key Vault network (docs/permissions.md, "Network") ----

@description('Key Vault public network access: Enabled (default) or Disabled (private endpoint only; then set keyVaultPrivateEndpointSubnetId and give the Function App VNet integration).')
@allowed(['Enabled', 'Disabled'])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('Optional Key Vault firewall: public IPv4 addresses or CIDR ranges allowed (e.g. the operators\' egress). When set, other public callers are denied; trusted Azure services still bypass.')
param keyVaultAllowedIpRanges array = []

@description('Optional subnet (resource id) for a Key Vault private endpoint; the privatelink DNS zone is created and linked to that subnet\'s VNet.')
param keyVaultPrivateEndpointSubnetId string = ''

// ---- Key Vault scope (docs/permissions.md, "Key Vault scope") ----

@description('The certificateName of every credential in rotator.yaml. When set, the service identity\'s Key Vault Secrets User and Crypto User roles are scoped to each certificate\'s secret and key instead of the vault (set it once the certificates exist). Empty: vault scope.')
param certificateNames array = []

@description('Key Vault secrets the configuration reads by name besides the Kong token secret ({ keyVaultSecret } references: Okta and Auth0 secrets, Kong and Konnect tokens, webhook URLs, kubeconfigs). The service identity reads each, the operator sets each, on that secret alone.')
param referenceSecretNames array = []

// ---- storage network (docs/permissions.md, "Network") ----

@description('Public network access of both storage accounts (the host\'s and the package\'s): Enabled (default) or Disabled (private endpoints only; set storagePrivateEndpointSubnetId and give the Function App VNet integration).')
@allowed(['Enabled', 'Disabled'])
param storagePublicNetworkAccess string = 'Enabled'

@description('Optional subnet (resource id) for the storage accounts\' private endpoints (host: blob, queue, table; package: blob), with their privatelink DNS zones linked to that subnet\'s VNet.')
param storagePrivateEndpointSubnetId string = ''

// ---- Kubernetes targets on AKS (docs/kong-kubernetes.md, "Credentials") ----

@description('Optional resource id of the AKS cluster running KIC, for a target with kubernetes.aks (Microsoft Entra authentication with the service identity). Read only: the deployment outputs its API server URL (AKS_API_SERVER_URL); the identity\'s access is a Kubernetes RoleBinding to SERVICE_IDENTITY_PRINCIPAL_ID, not an Azure role.')
param aksClusterResourceId string = ''

// ---- vault-reference mode (README "Vault-reference mode", docs/permissions.md) ----

@description('Optional object id of Kong\'s identity (the managed identity or service principal Kong\'s Azure vault authenticates as). When set, a Key Vault of its own is created for the vault-reference secrets (set vaultReference.keyVaultUrl to the output KONG_REFERENCE_VAULT_URL): Kong gets Key Vault Secrets User on it and nothing on the certificates\' vault, the rotator Key Vault Secrets Officer on it. Empty: no reference vault, no role for Kong.')
param kongPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
param kongPrincipalType string = 'ServicePrincipal'

// ---- identity on the HTTP functions (docs/permissions.md, "The HTTP API") ----

@description('Client id of the Entra app registration that represents the rotator\'s API (app roles in infra/auth/app-roles.json, identifier URI api://<client id>; docs/permissions.md "The HTTP API"). When set, App Service authentication signs every caller in and each action needs its app role. Empty: the HTTP API refuses every state-changing request (it fails closed) and serves reads with the function key.')
param authClientId string = ''

@description('Optional base URL of docs/runbooks, linked from each alert rule and from the status page.')
param runbookBaseUrl string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = 'func-rotator-${resourceToken}'
// Container names: 3-63 lower-case letters, digits and dashes.
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
// The rotator's own blob containers (src/adapters: lease/blob.ts, alerts/state-blob.ts, history/blob.ts),
// created here so that the operator's role can be scoped to them alone.
var rotatorContainerNames = ['rotator-locks', 'rotator-alerts', 'rotator-runs']
var createVnet = empty(vnetIntegrationSubnetId) && !empty(vnetAddressPrefix)

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-rotator-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    // Storage account names: 3-24 lower-case letters and digits.
    name: take('strot${resourceToken}', 24)
    location: location
    tags: tags
    rotatorContainerNames: rotatorContainerNames
    publicNetworkAccess: storagePublicNetworkAccess
  }
}

// The identity that deploys and loads the package (functionAppConfig.deployment.storage), apart from the
// service identity the code runs as: the package lives where the service identity has no role.
module deploymentIdentity 'core/identity/user-assigned-identity.bicep' = {
  name: 'deployment-identity'
  scope: rg
  params: {
    name: 'id-deploy-${resourceToken}'
    location: location
    tags: tags
  }
}

module packageStorage 'core/storage/package-storage.bicep' = {
  name: 'package-storage'
  scope: rg
  params: {
    name: take('stpkg${resourceToken}', 24)
    location: location
    tags: tags
    containerName: deploymentContainerName
    deploymentPrincipalId: deploymentIdentity.outputs.principalId
    publicNetworkAccess: storagePublicNetworkAccess
  }
}

module storagePrivateEndpoints 'core/network/private-endpoints.bicep' = if (!empty(storagePrivateEndpointSubnetId)) {
  name: 'storage-private-endpoints'
  scope: rg
  params: {
    location: location
    tags: tags
    subnetId: storagePrivateEndpointSubnetId
    endpoints: [
      { name: 'pe-st-blob-${resourceToken}', resourceId: storage.outputs.id, groupId: 'blob' }
      { name: 'pe-st-queue-${resourceToken}', resourceId: storage.outputs.id, groupId: 'queue' }
      { name: 'pe-st-table-${resourceToken}', resourceId: storage.outputs.id, groupId: 'table' }
      { name: 'pe-stpkg-blob-${resourceToken}', resourceId: packageStorage.outputs.id, groupId: 'blob' }
    ]
  }
}

module keyVault 'core/security/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    // Vault names: 3-24 letters, digits and dashes.
    name: take('kv-rot-${resourceToken}', 24)
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
    kongAdminTokenSecretName: kongAdminTokenSecretName
    kongAdminToken: kongAdminToken
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    publicNetworkAccess: keyVaultPublicNetworkAccess
    allowedIpRanges: keyVaultAllowedIpRanges
  }
}

// Vault-reference mode: the reference secrets' own vault (app/kong-vault-rbac.bicep says why), with the same
// network rules and audit log as the certificates' vault.
module referenceVault 'core/security/keyvault.bicep' = if (!empty(kongPrincipalId)) {
  name: 'keyvault-kong-references'
  scope: rg
  params: {
    name: take('kv-kref-${resourceToken}', 24)
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    publicNetworkAccess: keyVaultPublicNetworkAccess
    allowedIpRanges: keyVaultAllowedIpRanges
  }
}

module kongVaultRbac 'app/kong-vault-rbac.bicep' = if (!empty(kongPrincipalId)) {
  name: 'kong-vault-rbac'
  scope: rg
  params: {
    keyVaultName: !empty(kongPrincipalId) ? referenceVault.outputs.name : ''
    kongPrincipalId: kongPrincipalId
    kongPrincipalType: kongPrincipalType
    identityPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

// Private endpoints for the certificates' vault and, in vault-reference mode, the reference vault: with
// keyVaultPublicNetworkAccess Disabled both vaults are reachable only through them (the reference vault has
// the same network rules). Kong's own network must reach the reference vault's endpoint too (or its public
// endpoint, when allowed): infra/README.md.
module keyVaultPrivateEndpoint 'core/network/private-endpoints.bicep' = if (!empty(keyVaultPrivateEndpointSubnetId)) {
  name: 'keyvault-private-endpoint'
  scope: rg
  params: {
    location: location
    tags: tags
    subnetId: keyVaultPrivateEndpointSubnetId
    endpoints: concat([{ name: 'pe-kv-rotator-${resourceToken}', resourceId: keyVault.outputs.id, groupId: 'vault' }], empty(kongPrincipalId) ? [] : [{ name: 'pe-kv-kref-${resourceToken}', resourceId: referenceVault.outputs.id, groupId: 'vault' }])
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-rotator-${resourceToken}'
    applicationInsightsName: 'appi-rotator-${resourceToken}'
    location: location
    tags: tags
  }
}

module vnet 'core/network/vnet.bicep' = if (createVnet) {
  name: 'vnet'
  scope: rg
  params: {
    name: 'vnet-rotator-${resourceToken}'
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: vnetAppSubnetPrefix
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    rotatorContainerNames: storage.outputs.rotatorContainerNames
    certificateNames: certificateNames
    referenceSecretNames: union([kongAdminTokenSecretName], referenceSecretNames)
  }
}

module queues 'app/queues.bicep' = {
  name: 'queues'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    identityPrincipalId: identity.outputs.principalId
  }
}

module rotator 'app/rotator.bicep' = {
  name: 'rotator'
  scope: rg
  // The host reaches storage with the identity from its first start, and the platform the package with the
  // deployment identity: assign the roles first.
  dependsOn: [rbac, queues, packageStorage]
  params: {
    name: functionAppName
    planName: 'plan-rotator-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'rotator'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentIdentityId: deploymentIdentity.outputs.id
    packageContainerUrl: packageStorage.outputs.containerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    kongAdminTokenSecretName: kongAdminTokenSecretName
    rotatorConfigPath: rotatorConfigPath
    rotationSchedule: rotationSchedule
    syncCheckSchedule: syncCheckSchedule
    rotateHttpBudget: rotateHttpBudget
    runbookBaseUrl: runbookBaseUrl
    virtualNetworkSubnetId: !empty(vnetIntegrationSubnetId) ? vnetIntegrationSubnetId : (createVnet ? vnet.outputs.appSubnetId : '')
    authClientId: authClientId
  }
}

// The AKS cluster of a kubernetes.aks target, read for its API server's address (it may live in another
// resource group or subscription: /subscriptions/<s>/resourceGroups/<rg>/providers/.../managedClusters/<name>).
module aksCluster 'app/aks-cluster.bicep' = if (!empty(aksClusterResourceId)) {
  name: 'aks-cluster'
  scope: resourceGroup(split(aksClusterResourceId, '/')[2], split(aksClusterResourceId, '/')[4])
  params: {
    clusterName: last(split(aksClusterResourceId, '/'))
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    actionGroupName: 'ag-rotator-${resourceToken}'
    alertEmail: alertEmail
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    rotatorPrincipalId: identity.outputs.principalId
    namePrefix: functionAppName
    rotationIntervalHours: rotationIntervalHours
    runbookBaseUrl: runbookBaseUrl
  }
}

// azd stores these in the environment (`azd env get-values`): the CLI run by an operator points at the
// same storage (lease, alert state, history) and vault as the functions.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = rotator.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${rotator.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URL string = keyVault.outputs.uri
// Vault-reference mode: vaultReference.keyVaultUrl, and the vault_uri of Kong's azure vault entity.
output KONG_REFERENCE_VAULT_URL string = !empty(kongPrincipalId) ? referenceVault.outputs.uri : ''
// kubernetes.aks.server of a KIC target (and whether the cluster takes Entra tokens at all).
output AKS_API_SERVER_URL string = !empty(aksClusterResourceId) ? aksCluster.outputs.apiServerUrl : ''
output AKS_ENTRA_INTEGRATION bool = !empty(aksClusterResourceId) ? aksCluster.outputs.entraIntegration : false
output SERVICE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICE_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AzureWebJobsStorage__blobServiceUri string = storage.outputs.blobEndpoint
// The HTTP API (docs/permissions.md, "The HTTP API"). No key is output: outputs are readable by anyone who
// can read the deployment. Automation that starts rotations holds the per-function key of ROTATOR_ROTATE_FUNCTION
// (az functionapp function keys list --function-name <it>), never a host key; people open the status page and
// sign in.
output ROTATOR_API_SCOPE string = empty(authClientId) ? '' : 'api://${authClientId}/.default'
output ROTATOR_ROTATE_FUNCTION string = 'rotateCredential'
output ROTATOR_STATUS_PAGE_URL string = 'https://${rotator.outputs.defaultHostName}/api/credentials'
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
