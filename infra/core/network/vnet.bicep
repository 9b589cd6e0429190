// Optional: a virtual network with a subnet delegated to Microsoft.App/environments, the delegation Flex
// Consumption VNet integration requires (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#virtual-network-integration).
// Use it when the Kong Admin API is private: peer this network with Kong's, or pass an existing delegated
// subnet to main.bicep (vnetIntegrationSubnetId) instead of creating one here.
// With VNet integration, the app's outbound traffic goes through the network, so the network must still
// reach Entra ID, Microsoft Graph, Key Vault and Storage (default outbound, a NAT gateway or a firewall
// that allows them).
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Address space of the new network, e.g. 10.70.0.0/24.')
param addressPrefix string

@description('Integration subnet (at least /28; /26 leaves room to scale).')
param appSubnetPrefix string

var appSubnetName = 'rotator-app'

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
    ]
  }

  resource appSubnet 'subnets' existing = {
    name: appSubnetName
  }
}

output id string = vnet.id
output appSubnetId string = vnet::appSubnet.id
