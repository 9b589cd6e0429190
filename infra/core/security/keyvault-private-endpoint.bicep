// Optional private endpoints for the Key Vaults (the certificates' vault, and the vault-reference vault when
// there is one), one per vault in the same subnet, with the privatelink DNS zone linked once to their
// virtual network so that each vault's name resolves to its private address inside it. One module for all
// the vaults: the zone and its link are one resource each (two modules would both write them). Each
// endpoint's zone group adds its vault's A record to the zone.
// https://learn.microsoft.com/azure/key-vault/general/private-link-service
// Resource types: https://learn.microsoft.com/azure/templates/microsoft.network/privateendpoints ,
// .../microsoft.network/privatednszones , .../privatednszones/virtualnetworklinks ,
// .../privateendpoints/privatednszonegroups
param location string = resourceGroup().location
param tags object = {}

@description('The vaults, each { endpointName: name of its private endpoint, vaultId: resource id of the Key Vault }.')
param vaults array

@description('Subnet (resource id) the private endpoint gets its address from; the Function App must reach it (VNet integration into the same or a peered network).')
param subnetId string

@description('Private DNS zone of Key Vault private links (public cloud: privatelink.vaultcore.azure.net).')
param privateDnsZoneName string = 'privatelink.vaultcore.azure.net'

// /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>
var vnetId = join(take(split(subnetId, '/'), 9), '/')

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = [for v in vaults: {
  name: v.endpointName
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: v.vaultId
          groupIds: ['vault']
        }
      }
    ]
  }
}]

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: privateDnsZoneName
  location: 'global'
  tags: tags
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: 'vault-link'
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: { id: vnetId }
    registrationEnabled: false
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (v, i) in vaults: {
  parent: endpoint[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: { privateDnsZoneId: zone.id }
      }
    ]
  }
}]

output ids array = [for (v, i) in vaults: endpoint[i].id]
