// The rotator's Function App: Flex Consumption (FC1), Linux, Node.js 22, running as the user-assigned
// managed identity. Flex Consumption settings follow
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to and the azd quick-start
// (Azure-Samples/functions-quickstart-typescript-azd).
//
// The app settings below are exactly what the code reads (src/) plus what the Functions host needs;
// test/infra/settings.test.ts fails when the two drift apart. On Flex Consumption the runtime is set by
// functionAppConfig.runtime, so FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are NOT app
// settings here (Flex rejects them as deprecated settings).
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}

@description('azd service name (azure.yaml) this app is deployed as.')
param serviceName string

@description('Resource id of the user-assigned managed identity the code runs as.')
param identityId string
@description('Client id of the same identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

param storageAccountName string

@description('Resource id of the deployment identity: the one that writes and reads the package (core/storage/package-storage.bicep); the code runs as identityId.')
param deploymentIdentityId string
@description('URL of the blob container holding the deployment package, in the package storage account.')
param packageContainerUrl string
param applicationInsightsName string
param keyVaultName string
param kongAdminTokenSecretName string

@description('Path of the rotator configuration file inside the deployed package (ROTATOR_CONFIG).')
param rotatorConfigPath string
@description('NCRONTAB (six fields) of the rotation timer (ROTATION_SCHEDULE).')
param rotationSchedule string
@description('NCRONTAB (six fields) of the drift check timer (SYNC_CHECK_SCHEDULE).')
param syncCheckSchedule string
@description('ISO-8601 budget of one manual rotation over HTTP, below the 230 s HTTP limit (ROTATE_HTTP_BUDGET).')
param rotateHttpBudget string
@description('Optional base URL of docs/runbooks; the status page links each open alert to its runbook there (RUNBOOK_BASE_URL).')
param runbookBaseUrl string = ''

@description('Existing subnet delegated to Microsoft.App/environments for VNet integration; empty for none.')
param virtualNetworkSubnetId string = ''

@minValue(40)
@maxValue(1000)
@description('Scale-out limit. Timers run as singletons; HTTP rotations are serialised by the lease.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Client id of the Entra app registration of the rotator\'s API (app roles Rotation.Reader, Rotation.Operator, Rotation.Admin: infra/auth/app-roles.json). When set, App Service authentication signs every caller in and the functions check the app role of each action; empty: no caller can be signed in, so the HTTP API refuses every state-changing request and serves reads with the function key.')
param authClientId string = ''

var authRequired = !empty(authClientId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    // The deployment identity must be linked to the app for the platform to use it on the package; the code
    // uses AZURE_CLIENT_ID (identityId) only.
    userAssignedIdentities: { '${identityId}': {}, '${deploymentIdentityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (KONG_ADMIN_TOKEN) resolve with this identity, not a system-assigned one:
    // https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#access-vaults-with-a-user-assigned-identity
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: packageContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: deploymentIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  // The complete set of app settings (this resource replaces whatever was there).
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // ---- read by the rotator (src/) ----
      // Path of the configuration file shipped in the package. Relative paths resolve against the app root:
      // the host starts the worker in the function app directory, and the Node.js worker changes to it again
      // on specialization (Azure/azure-functions-nodejs-worker#257).
      ROTATOR_CONFIG: rotatorConfigPath
      ROTATION_SCHEDULE: rotationSchedule
      SYNC_CHECK_SCHEDULE: syncCheckSchedule
      ROTATE_HTTP_BUDGET: rotateHttpBudget
      // The HTTP API's trust in App Service authentication (src/functions/auth.ts): true exactly when the
      // authsettingsV2 below is deployed, in this template, on the same condition. The code trusts the
      // principal header only then; otherwise every state-changing request is refused. The local-development
      // opt-in ROTATOR_ALLOW_KEY_ONLY_WRITES is never set here.
      ROTATOR_AUTH_REQUIRED: authRequired ? 'true' : 'false'
      // Where the status page links each open alert's runbook (empty: the page names the runbook file).
      RUNBOOK_BASE_URL: runbookBaseUrl
      // DefaultAzureCredential picks the user-assigned identity by client id.
      AZURE_CLIENT_ID: identityClientId
      // Kong RBAC token for targets configured with adminToken: { env: KONG_ADMIN_TOKEN }. A Key Vault
      // reference: the value never appears in the app's configuration. Targets may instead use
      // adminToken: { keyVaultSecret: <name> }, which the rotator reads itself.
      KONG_ADMIN_TOKEN: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${kongAdminTokenSecretName})'

      // ---- host storage with the managed identity, also read by the rotator (blob: lease, alert state, run history) ----
      // https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId

      // ---- host telemetry with the managed identity (local auth is off on the component) ----
      // https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      // The worker's own OpenTelemetry exporters (src/telemetry/azure.ts) read the same two settings and
      // authenticate with the same identity.
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // Read by @azure/monitor-opentelemetry-exporter (export/base.js): no "statsbeat", the exporter's own
      // usage telemetry to a Microsoft endpoint, and so no instance-metadata probe when it starts.
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true'
    }
  }

  // App Service authentication (Entra) in front of the HTTP functions. Every request must be signed in:
  // a browser is sent to the Entra sign-in page (so the status page is reached with the user's sign-in,
  // never a key in the URL), an API client sends an Entra access token for api://<client id>. Only then
  // does the platform set x-ms-client-principal, stripping any such header a client sent
  // (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). The
  // functions check each action's app role themselves (src/functions/auth.ts): the platform validates the
  // token, not the roles (https://learn.microsoft.com/azure/app-service/configure-authentication-provider-aad).
  // Reads are registered without a function key in this mode; POST .../rotate keeps its per-function key.
  // resource: https://learn.microsoft.com/azure/templates/microsoft.web/sites/config-authsettingsv2
  resource auth 'config' = if (authRequired) {
    name: 'authsettingsV2'
    // Two writes to the site's config at once can conflict: one after the other.
    dependsOn: [appSettings]
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'RedirectToLoginPage'
        redirectToProvider: 'azureactivedirectory'
      }
      httpSettings: {
        requireHttps: true
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: authClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            // Tokens requested for the API's identifier URI (v1 tokens carry it as aud) or its client id (v2).
            allowedAudiences: [
              'api://${authClientId}'
              authClientId
            ]
          }
          login: {
            disableWWWAuthenticate: false
          }
        }
      }
      login: {
        tokenStore: {
          enabled: false
        }
      }
    }
  }
}

// No publishing with basic credentials: the platform keeps one policy per channel (the SCM site, where a
// deployment uploads the package, and FTP) for every site. Flex Consumption deploys only through the package
// container (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#deployment), so turning
// FTP off removes nothing it uses, and with SCM off a deployment needs a Microsoft Entra token (azd deploy and
// `func azure functionapp publish` use one). https://learn.microsoft.com/azure/app-service/configure-basic-auth-disable
resource basicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = [
  for channel in ['scm', 'ftp']: {
    parent: site
    name: channel
    properties: {
      allow: false
    }
  }
]

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
