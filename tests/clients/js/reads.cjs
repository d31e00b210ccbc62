// A migration team's Node script against what a migration built, with the Azure SDK for JavaScript as npm ships it
// (.cache/clients/js), pointed at the lab by configuration alone: the reads of tests/clients/test_javascript_sdk.py
// and one long-running operation, an empty managed disk created and deleted.
//
// Usage: NODE_PATH=.cache/clients/js/node_modules NODE_EXTRA_CA_CERTS=<lab CA> AZURE_CLIENT_SECRET=<secret> \
//        node reads.cjs '<json: endpoint, authority, tenantId, clientId, subscriptionId, location, names...>'
// Prints one JSON object: each resource as the SDK returned it, and every request the clients sent (method,
// path, api-version, status), read off the wire by a pipeline policy.
"use strict";

const { ClientSecretCredential } = require("@azure/identity");
const { ComputeManagementClient } = require("@azure/arm-compute");
const { NetworkManagementClient } = require("@azure/arm-network");
const { PrivateDnsManagementClient } = require("@azure/arm-privatedns");
const { StorageManagementClient } = require("@azure/arm-storage");

function recorder(sent) {
  return {
    name: "vmshiftRecordRequests",
    async sendRequest(request, next) {
      const response = await next(request);
      const url = new URL(request.url);
      sent.push({ method: request.method, path: url.pathname, apiVersion: url.searchParams.get("api-version"),
                  status: response.status });
      return response;
    },
  };
}

async function all(pages) {
  const items = [];
  for await (const item of pages) items.push(item);
  return items;
}

async function main() {
  const lab = JSON.parse(process.argv[2]);
  // The lab's authority is no Entra ID instance MSAL knows: with instance discovery on, MSAL would first ask
  // login.microsoftonline.com whether it is one.
  const credential = new ClientSecretCredential(lab.tenantId, lab.clientId, process.env.AZURE_CLIENT_SECRET,
                                                { authorityHost: lab.authority, disableInstanceDiscovery: true });
  const sent = [];
  const clients = [ComputeManagementClient, NetworkManagementClient, PrivateDnsManagementClient,
                   StorageManagementClient].map((Client) => {
    // `endpoint` replaces management.azure.com; the token scope stays ARM's audience, which the lab checks.
    const client = new Client(credential, lab.subscriptionId, { endpoint: lab.endpoint });
    client.pipeline.addPolicy(recorder(sent));
    return client;
  });
  const [compute, network, privateDns, storage] = clients;

  const vm = await compute.virtualMachines.get(lab.group, lab.vm);
  const nicId = vm.networkProfile.networkInterfaces[0].id;
  const nicName = nicId.split("/").pop();
  const result = {
    vm,
    disks: await all(compute.disks.listByResourceGroup(lab.group)),
    nic: await network.networkInterfaces.get(nicId.split("/")[4], nicName),
    privateEndpoint: await network.privateEndpoints.get(lab.storageGroup, lab.privateEndpoint),
    aRecords: await all(privateDns.recordSets.listByType(lab.dnsGroup, lab.dnsZone, "A")),
    storageAccount: await storage.storageAccounts.getProperties(lab.storageGroup, lab.cacheAccount),
  };

  // A long-running operation: ARM answers the disk's PUT 202 with a Location to poll, and its DELETE too.
  // The SDK's poller waits on them; the default interval is 2 s, which the lab's Retry-After shortens.
  const disk = { location: lab.location, sku: { name: "Standard_LRS" }, creationData: { createOption: "Empty" },
                 diskSizeGB: 1 };
  result.createdDisk = await compute.disks.createOrUpdate(lab.group, lab.lroDisk, disk);
  result.createdDiskRead = await compute.disks.get(lab.group, lab.lroDisk);
  await compute.disks.delete(lab.group, lab.lroDisk);
  result.requests = sent;
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => {
  // An ARM error carries its code and message (`error.code`, `error.message`) and the HTTP status.
  process.stderr.write(`${error.statusCode ?? ""} ${error.code ?? error.name}: ${error.message}\n`);
  process.exit(1);
});
