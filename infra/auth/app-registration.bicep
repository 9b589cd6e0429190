// The rotator API's Entra app registration with its app roles, declared from the one manifest the code's
// role table is tested against (app-roles.json; docs/permissions.md "The HTTP API"). Deployed on its own,
// not by main.bicep: it needs the Microsoft Graph Bicep extension (public cloud only) and a deployer with
// Entra rights to create applications (Application Developer or Application Administrator), which the
// Azure deployment identity usually lacks. Deploy it once after the first `azd provision`:
//   az deployment group create -g <rg> -f infra/auth/app-registration.bicep -p functionAppUrl=<AZURE_FUNCTION_APP_URL>
// then `azd env set AUTH_CLIENT_ID <output AUTH_CLIENT_ID> && azd provision`. In a sovereign cloud, create it
// from the same manifest with the Azure CLI instead (docs/permissions.md).
extension microsoftGraphV1

@description('Unique name of the registration (the Graph Bicep client-provided key); redeploying updates it.')
param uniqueName string = 'kong-key-rotator-api'

@description('Display name of the registration and of its enterprise application.')
param displayName string = 'kong-key-rotator-api'

@description('The function app URL (azd output AZURE_FUNCTION_APP_URL), for the browser sign-in redirect of App Service authentication.')
param functionAppUrl string

resource api 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  appRoles: loadJsonContent('app-roles.json')
  api: {
    requestedAccessTokenVersion: 2
  }
  web: {
    redirectUris: [
      '${functionAppUrl}/.auth/login/aad/callback'
    ]
    implicitGrantSettings: {
      enableIdTokenIssuance: true
    }
  }
}

// Only principals assigned one of the roles can sign in.
resource apiPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: api.appId
  appRoleAssignmentRequired: true
}

output AUTH_CLIENT_ID string = api.appId
