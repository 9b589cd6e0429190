// The AKS cluster of a Kubernetes target with Microsoft Entra authentication (kubernetes.aks), read only: its
// API server address for the target's configuration, and whether it takes Entra tokens. Nothing is granted
// here: the service identity gets a token for the AKS server application with no Azure role, and its access
// inside the cluster is a Kubernetes RoleBinding to its object id (docs/kong-kubernetes.md "Credentials").
// No kubeconfig is fetched (listClusterUserCredential), so the identity needs no AKS role in Azure either.
// Resource type: https://learn.microsoft.com/azure/templates/microsoft.containerservice/managedclusters
param clusterName string

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: clusterName
}

// A private cluster answers on its private FQDN only.
var fqdn = empty(cluster.properties.?privateFQDN ?? '') ? cluster.properties.fqdn : cluster.properties.privateFQDN

output apiServerUrl string = 'https://${fqdn}:443'
// AKS-managed Microsoft Entra integration: the API server validates Entra tokens for the AKS server app.
output entraIntegration bool = cluster.properties.?aadProfile.?managed ?? false
