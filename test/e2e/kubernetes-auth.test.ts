/**
 * Kubernetes targets without a cluster credential in the package, end to end on the local stack:
 * - `kubernetes.aks`: Microsoft Entra authentication to AKS with the service identity. Every request carries
 *   a token for the AKS server application, minted by the local Entra fake; the Kubernetes API server fake
 *   checks its signature, audience and tenant and takes the principal's object id (`oid`) as the user its
 *   RBAC rules are bound to, as AKS-managed Entra integration does.
 * - `kubernetes.kubeconfig: { keyVaultSecret }`: the kubeconfig read from Key Vault, with inline
 *   credentials only (a kubeconfig that would run a command is refused before any call).
 * Both rotate with 0 failed logins, and doctor reads the target with the same credentials.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalStack, CREDENTIAL, KIC, KUBECONFIG_SECRET, type LocalStack } from "../../stack/stack.js";
import { AKS_SERVER_APP } from "../../stack/entra/index.js";
import { GRAPH_RESOURCE } from "../../stack/entra/login.js";
import { runCli } from "../support/cli.js";
import { probeLoop } from "../support/e2e.js";

const POLICY = {
  overlap: "PT1H",
  verifyInterval: "PT0.3S",
  verifyConsecutive: 3,
  verifyTimeout: "PT30S",
  forceCooldown: "PT0S",
};

function writeConfig(config: Record<string, unknown>): string {
  const path = join(mkdtempSync(join(tmpdir(), "rotator-k8s-auth-")), "rotator.yaml");
  writeFileSync(path, stringify(config));
  return path;
}

async function rotateTwice(stack: LocalStack, configPath: string): Promise<void> {
  const cli = (...argv: string[]) => runCli(argv, configPath, stack.env);
  const boot = await cli("rotate", CREDENTIAL);
  expect(boot.code, boot.out + boot.err).toBe(0);
  const probes = probeLoop(() => stack.probe());
  try {
    const r = await cli("rotate", CREDENTIAL, "--force", "--reason", "k8s auth");
    expect(r.code, r.out + r.err).toBe(0);
  } finally {
    expect(await probes.stop()).toEqual([]);
  }
  const kids = Object.values(stack.gatewayKids());
  expect(new Set(kids).size).toBe(1);
}

const kubernetesBlock = (stack: LocalStack) =>
  (stack.config as { credentials: { kong: { kubernetes: Record<string, unknown> }[] }[] }).credentials[0]!
    .kong[0]!.kubernetes;

describe("kubernetes.aks: Microsoft Entra authentication with the service identity", () => {
  let stack: LocalStack;
  let configPath: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      propagationDelayMs: 800,
      createDelayMs: 100,
      policy: POLICY,
      kongMode: "kubernetes",
      kubernetesAuth: "aks-entra",
    });
    configPath = writeConfig(stack.config);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("the configuration names the API server and its CA only: no kubeconfig, no token", () => {
    const k = kubernetesBlock(stack);
    expect(Object.keys(k).sort()).toEqual(["aks", "maxLag", "namespace", "secretKey", "secretName"]);
    expect(Object.keys(k.aks as object).sort()).toEqual(["certificateAuthorityData", "server"]);
  });

  it("the API server takes only Entra tokens for the AKS server application, and maps the principal's oid", async () => {
    const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: client, AZURE_CLIENT_SECRET: secret } = stack.env;
    const credential = new ClientSecretCredential(tenant!, client!, secret!, {
      authorityHost: stack.entra.authorityHost,
      disableInstanceDiscovery: true,
    });
    const url = `${stack.kubernetes!.url}/api/v1/namespaces/${KIC.namespace}/secrets/${KIC.secret}`;
    const get = async (token?: string) =>
      (await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})).status;
    const aks = (await credential.getToken(`${AKS_SERVER_APP}/.default`)).token;
    const graph = (await credential.getToken(`${GRAPH_RESOURCE}/.default`)).token;
    expect(await get(aks)).toBe(200);
    expect(await get(graph)).toBe(401);
    expect(await get()).toBe(401);
    expect(await get(`${aks.slice(0, -4)}AAAA`)).toBe(401);
  });

  it("doctor reads the target as the identity the token names", async () => {
    const r = await runCli(["doctor", "--json"], configPath, stack.env);
    const report = JSON.parse(r.out) as { checks: { code: string; status: string; message: string }[] };
    const gateways = report.checks.find((c) => c.code === "KONG_GATEWAYS");
    expect(gateways?.status, r.out).toBe("pass");
    expect(gateways?.message).toMatch(/2 live proxy pod/);
  }, 60_000);

  it("bootstrap and a forced rotation, 0 failed logins", async () => {
    await rotateTwice(stack, configPath);
  }, 120_000);
});

describe("kubernetes.kubeconfig: { keyVaultSecret }", () => {
  let stack: LocalStack;
  let configPath: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      propagationDelayMs: 800,
      createDelayMs: 100,
      policy: POLICY,
      kongMode: "kubernetes",
      kubernetesAuth: "kubeconfig-secret",
    });
    configPath = writeConfig(stack.config);
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("reads the kubeconfig from Key Vault and rotates with 0 failed logins", async () => {
    expect(kubernetesBlock(stack).kubeconfig).toEqual({ keyVaultSecret: KUBECONFIG_SECRET });
    await rotateTwice(stack, configPath);
  }, 120_000);

  it("refuses a kubeconfig secret that would run a command, before any call to the cluster", async () => {
    const kubeconfig = parse(stack.keyVault.secret(KUBECONFIG_SECRET)!.value) as {
      users: { user: Record<string, unknown> }[];
    };
    kubeconfig.users[0]!.user = {
      exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "/bin/sh", args: ["-c", "id"] },
    };
    stack.keyVault.putSecret("aks-kubeconfig-exec", stringify(kubeconfig));
    const config = structuredClone(stack.config) as typeof stack.config;
    kubernetesBlock({ config } as LocalStack).kubeconfig = { keyVaultSecret: "aks-kubeconfig-exec" };
    const before = stack.kubernetes!.requests.length;
    const r = await runCli(["rotate", CREDENTIAL, "--force", "--json"], writeConfig(config), stack.env);
    expect(r.code).toBe(1);
    expect(r.out, r.out + r.err).toMatch(/KONG_K8S_KUBECONFIG_REFUSED[\s\S]*users\[\]\.user\.exec/);
    expect(stack.kubernetes!.requests.length).toBe(before);
  }, 60_000);
});
