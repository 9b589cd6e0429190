// The service's own identity: one user-assigned managed identity shared by the Functions host (storage,
// Application Insights, Key Vault references) and the rotator code (DefaultAzureCredential with
// AZURE_CLIENT_ID = this identity's client id). User-assigned so that role assignments and Graph app-role
// grants survive re-creating the Function App.
param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
