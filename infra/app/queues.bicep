// The fleet's work queues (src/app/fleet.ts): `rotation-work`, consumed by the queue-triggered function
// rotationWork, and `rotation-work-poison`, where the Functions host moves a message after
// host.json `extensions.queues.maxDequeueCount` failed attempts, consumed by rotationPoison.
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages
//
// Least privilege: the service identity gets Storage Queue Data Contributor (read, receive, send, delete
// messages; the rotator re-enqueues waiting work itself and the host writes the poison queue) on these
// two queues only, not on the account. Role scope on a queue:
// https://learn.microsoft.com/azure/storage/queues/assign-azure-role-data-access#determine-resource-scope
param storageAccountName string
param identityPrincipalId string

var queueNames = ['rotation-work', 'rotation-work-poison']
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for name in queueNames: {
    parent: queueService
    name: name
  }
]

resource queueRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (name, i) in queueNames: {
    name: guid(queues[i].id, identityPrincipalId, storageQueueDataContributor)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

output queueNames array = queueNames
