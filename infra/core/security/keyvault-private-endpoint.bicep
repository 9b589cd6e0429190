// Optional private endpoint for the Key Vault, with the privatelink DNS zone linked to the endpoint's
// virtual network so that the vault's name resolves to the private address inside it.
// https://learn.microsoft.com/azure/key-vault/general/private-link-service
// Resource types: https://learn.microsoft.com/azure/templates/microsoft.network/privateendpoints ,
// .../microsoft.network/privatednszones , .../privatednszones/virtualnetworklinks ,
// .../privateendpoints/privatednszonegroups
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the Key Vault.')
param vaultId string

@description('Subnet (resource id) the private endpoint gets its address from; the Function App must reach it (VNet integration into the same or a peered network).')
param subnetId string

@description('Private DNS zone of Key Vault private links (public cloud: privatelink.vaultcore.azure.net).')
param privateDnsZoneName string = 'privatelink.vaultcore.azure.net'

// /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>
var vnetId = join(take(split(subnetId, '/'), 9), '/')

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: { id: subnetId }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: vaultId
          groupIds: ['vault']
        }
      }
    ]
  }
}

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

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vault'
        properties: { privateDnsZoneId: zone.id }
      }
    ]
  }
}

output id string = endpoint.id
