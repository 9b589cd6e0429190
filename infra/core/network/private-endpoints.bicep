// Private endpoints in one subnet, each with the privatelink DNS zone of its sub-resource (group id), the
// zones linked once to the subnet's virtual network so that each resource's name resolves to its private
// address inside it. Used for the Key Vaults (group id `vault`) and the storage accounts (`blob`, `queue`,
// `table`); one call per subnet, and each zone is created by one call only (the vaults' zone and the storage
// zones differ), so two calls never write the same zone.
// https://learn.microsoft.com/azure/private-link/private-endpoint-dns ;
// https://learn.microsoft.com/azure/key-vault/general/private-link-service ;
// https://learn.microsoft.com/azure/storage/common/storage-private-endpoints
// Resource types: https://learn.microsoft.com/azure/templates/microsoft.network/privateendpoints ,
// .../microsoft.network/privatednszones , .../privatednszones/virtualnetworklinks ,
// .../privateendpoints/privatednszonegroups
param location string = resourceGroup().location
param tags object = {}

@description('The endpoints, each { name: the private endpoint\'s name, resourceId: the resource it reaches, groupId: vault | blob | queue | table }.')
param endpoints array

@description('Subnet (resource id) the endpoints get their addresses from; the Function App must reach it (VNet integration into the same or a peered network).')
param subnetId string

@description('Private DNS zone per group id (defaults: the public cloud\'s zones; storage zones follow the cloud\'s storage suffix).')
param zoneNames object = {
  vault: 'privatelink.vaultcore.azure.net'
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
}

// /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>
var vnetId = join(take(split(subnetId, '/'), 9), '/')
// One zone per distinct group id (union removes duplicates).
var groupIds = union(map(endpoints, e => e.groupId), [])

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = [for e in endpoints: {
  name: e.name
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      {
        name: e.groupId
        properties: {
          privateLinkServiceId: e.resourceId
          groupIds: [e.groupId]
        }
      }
    ]
  }
}]

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = [for g in groupIds: {
  name: zoneNames[g]
  location: 'global'
  tags: tags
}]

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (g, i) in groupIds: {
  parent: zone[i]
  name: 'vnet-link'
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: { id: vnetId }
    registrationEnabled: false
  }
}]

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (e, i) in endpoints: {
  parent: endpoint[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: e.groupId
        properties: { privateDnsZoneId: zone[indexOf(groupIds, e.groupId)].id }
      }
    ]
  }
}]

output ids array = [for (e, i) in endpoints: endpoint[i].id]
