/**
 * Least privilege in the Bicep (issue 19, section 4), checked on the templates' text since no Bicep compiler
 * installs here (infra/README.md): every role assignment is read with its principal, role and scope, and the
 * checks say who may do what where.
 * - The service identity cannot write its own code: the package lives in an account of its own, where only
 *   the deployment identity has a role (Blob Data Contributor on the package container), and the app loads
 *   it with that identity.
 * - Table Data Contributor: kept for the Functions host's diagnostic events, with the citation.
 * - Key Vault: with certificateNames, Secrets User and Crypto User on each certificate's secret and key and
 *   the reference secrets; Certificates Officer at vault scope (no certificate resource type); the operator
 *   holds no vault-wide write or secret role, and Secrets Officer on the reference secrets only.
 * - Network: public access Disabled is a parameter for both vaults and both storage accounts, with private
 *   endpoints for vault, blob, queue and table; basic-auth publishing (SCM, FTP) is off.
 * - AKS with Entra: the cluster is read for its API server address, and nothing grants a cluster credential.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const INFRA = join(import.meta.dirname, "..", "..", "infra");
const read = (path: string) => readFileSync(join(INFRA, path), "utf8");
/** The text without `//` comments and `@description` lines (strings kept: a URL in a string is no comment). */
const code = (path: string) =>
  read(path)
    .split("\n")
    .map((l) =>
      l
        .replace(/^\s*\/\/.*$/, "")
        .replace(/^\s*@description\(.*$/, "")
        .replace(/\s\/\/(?=[^']*$).*$/, ""),
    )
    .join("\n");

interface Block {
  kind: "resource" | "module";
  symbol: string;
  /** Resource type (with version) or module path. */
  target: string;
  /** Between `=` and the body: a loop (`[for x in list:`) or a condition (`if (...)`). */
  header: string;
  body: string;
}

/** Top-level and nested `resource`/`module` declarations with their bodies (brace-matched). */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  const re = /^\s*(resource|module)\s+(\w+)\s+'([^']+)'[^=\n]*=/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const open = text.indexOf("{", m.index + m[0].length);
    let depth = 0;
    let end = open;
    for (let i = open; i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) {
        end = i;
        break;
      }
    }
    out.push({
      kind: m[1] as Block["kind"],
      symbol: m[2]!,
      target: m[3]!,
      header: text.slice(m.index + m[0].length, open),
      body: text.slice(open, end + 1),
    });
  }
  return out;
}

const ROLE = {
  blobOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  blobContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  blobReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  tableContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  certificatesOfficer: "a4417e6f-fecd-4de8-b567-7b0420556985",
  secretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  secretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  cryptoUser: "12338af0-0e69-4776-bea7-57ae8d297424",
  keyVaultReader: "21090545-7ca7-4776-b22c-e363652d74d2",
  aksClusterUser: "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
  aksClusterAdmin: "0ab0b1a8-8aac-4efd-b8c2-3ee1fb270be8",
} as const;

/** A role assignment: its scope expression, principal expression and role id (resolved through `roles.x`). */
interface Assignment {
  file: string;
  symbol: string;
  scope: string;
  principal: string;
  roles: string[];
  loop: string | undefined;
}

function assignments(file: string): Assignment[] {
  const text = code(file);
  const roleVars = new Map<string, string>();
  for (const m of text.matchAll(/^\s*(?:var\s+)?(\w+)\s*[:=]\s*'([0-9a-f-]{36})'/gm))
    roleVars.set(m[1]!, m[2]!);
  const lists = new Map<string, string>();
  for (const m of text.matchAll(
    /^var\s+(\w+)\s*=\s*([\s\S]*?)(?=\n(?:var|resource|param|output|module)\s)/gm,
  ))
    lists.set(m[1]!, m[2]!);
  const ids = (expr: string): string[] => {
    const found = new Set<string>();
    for (const m of expr.matchAll(/roles\.(\w+)/g)) if (roleVars.has(m[1]!)) found.add(roleVars.get(m[1]!)!);
    for (const m of expr.matchAll(/'([0-9a-f-]{36})'/g)) found.add(m[1]!);
    for (const m of expr.matchAll(/\b(\w+)\b/g))
      if (roleVars.has(m[1]!) && !expr.includes(`roles.${m[1]}`)) found.add(roleVars.get(m[1]!)!);
    return [...found];
  };
  return blocks(text)
    .filter((b) => b.target.startsWith("Microsoft.Authorization/roleAssignments@"))
    .map((b) => {
      // `[for x in <list>: {`: the list is everything up to the header's last colon (it may hold `a ? b : c`).
      const loop = /for\s+.+?\bin\s+([\s\S]+):\s*$/.exec(b.header.trim())?.[1];
      const role = /roleDefinitionId:[^\n]*/.exec(b.body)?.[0] ?? "";
      let roleIds = ids(role);
      // `for role in <list>`: the roles of the list (a var, possibly a conditional of lists).
      const over = /for\s+role\s+in\s+([\s\S]+):\s*$/.exec(b.header.trim())?.[1];
      if (over) {
        const names = [...over.matchAll(/\b(\w+)\b/g)].map((m) => m[1]!);
        roleIds = [...new Set(names.flatMap((n) => (lists.has(n) ? ids(lists.get(n)!) : [])))];
      }
      return {
        file,
        symbol: b.symbol,
        scope: /^\s*scope:\s*(.+)$/m.exec(b.body)?.[1]?.trim() ?? "(deployment scope)",
        principal: /principalId:\s*(.+)$/m.exec(b.body)?.[1]?.trim() ?? "",
        roles: roleIds,
        loop: loop?.trim(),
      };
    });
}

const FILES = [
  "app/rbac.bicep",
  "app/queues.bicep",
  "app/kong-vault-rbac.bicep",
  "core/storage/package-storage.bicep",
];
const all = () => FILES.flatMap(assignments);
const ofPrincipal = (p: RegExp) => all().filter((a) => p.test(a.principal));

describe("least privilege in infra/ (issue 19, section 4)", () => {
  it("reads every role assignment with its role and scope (the reader sees what it checks)", () => {
    const rbac = assignments("app/rbac.bicep");
    expect(rbac.map((a) => a.symbol)).toEqual(
      expect.arrayContaining([
        "identityStorage",
        "identityVault",
        "identityCertificateSecrets",
        "identityCertificateKeys",
        "identityReferenceSecrets",
        "operatorVault",
        "operatorReferenceSecrets",
      ]),
    );
    for (const a of all()) expect(a.roles.length, `${a.file} ${a.symbol}`).toBeGreaterThan(0);
  });

  it("the package is in an account of its own, written and read by the deployment identity only", () => {
    const pkg = assignments("core/storage/package-storage.bicep");
    expect(pkg).toEqual([
      expect.objectContaining({
        principal: "deploymentPrincipalId",
        roles: [ROLE.blobContributor],
        scope: "storage::blobServices::container",
      }),
    ]);
    // The host's account holds no package container any more; the service identity's roles are there.
    expect(code("core/storage/storage-account.bicep")).not.toMatch(/deploymentContainer|app-package/);
    const main = code("main.bicep");
    const packageModule = blocks(main).find((b) => b.symbol === "packageStorage")!;
    expect(packageModule.target).toBe("core/storage/package-storage.bicep");
    expect(packageModule.body).toMatch(/deploymentPrincipalId:\s*deploymentIdentity\.outputs\.principalId/);
    expect(packageModule.body).toMatch(/name:\s*take\('stpkg/);
    // No role of the service identity (or the operator) names the package account.
    for (const a of all().filter((x) => !/deploymentPrincipalId/.test(x.principal)))
      expect(a.scope, `${a.file} ${a.symbol}`).not.toMatch(/package|container\b/);
    // The app loads the package with the deployment identity; the code runs as the service identity.
    const site = blocks(code("app/rotator.bicep")).find((b) => b.symbol === "site")!;
    expect(site.body).toMatch(
      /deployment:\s*\{\s*storage:\s*\{[\s\S]*?value:\s*packageContainerUrl[\s\S]*?userAssignedIdentityResourceId:\s*deploymentIdentityId/,
    );
    expect(site.body).toMatch(/AZURE_CLIENT_ID:\s*identityClientId/);
    const rotator = blocks(main).find((b) => b.symbol === "rotator")!;
    expect(rotator.body).toMatch(/deploymentIdentityId:\s*deploymentIdentity\.outputs\.id/);
    expect(rotator.body).toMatch(/identityId:\s*identity\.outputs\.id/);
  });

  it("Table Data Contributor is kept for the Functions host's diagnostic events, and says so with the source", () => {
    const storage = assignments("app/rbac.bicep").find((a) => a.symbol === "identityStorage")!;
    expect(storage).toMatchObject({ principal: "identityPrincipalId", scope: "storage" });
    expect(storage.roles.sort()).toEqual([ROLE.blobOwner, ROLE.tableContributor].sort());
    const cite =
      "https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity";
    expect(read("app/rbac.bicep")).toMatch(/diagnostic events[\s\S]{0,300}Storage Table Data Contributor/);
    expect(read("app/rbac.bicep")).toContain(cite);
    const permissions = readFileSync(join(INFRA, "..", "docs", "permissions.md"), "utf8");
    expect(permissions).toContain(cite);
    expect(permissions).toMatch(/Storage Table Data Contributor[^\n]*diagnostic events/);
  });

  it("Key Vault: Secrets User and Crypto User per certificate and reference secret; Certificates Officer at vault scope", () => {
    const rbac = assignments("app/rbac.bicep");
    const by = (s: string) => rbac.find((a) => a.symbol === s)!;
    expect(by("identityCertificateSecrets")).toMatchObject({
      scope: "certificateSecrets[i]",
      roles: [ROLE.secretsUser],
      loop: "certificateNames",
    });
    expect(by("identityCertificateKeys")).toMatchObject({
      scope: "certificateKeys[i]",
      roles: [ROLE.cryptoUser],
      loop: "certificateNames",
    });
    expect(by("identityReferenceSecrets")).toMatchObject({
      scope: "referenceSecrets[i]",
      roles: [ROLE.secretsUser],
    });
    const text = code("app/rbac.bicep");
    // The scopes are the vault's secrets and keys named like the certificates.
    for (const [symbol, type] of [
      ["certificateSecrets", "Microsoft.KeyVault/vaults/secrets@"],
      ["certificateKeys", "Microsoft.KeyVault/vaults/keys@"],
      ["referenceSecrets", "Microsoft.KeyVault/vaults/secrets@"],
    ] as const) {
      const b = blocks(text).find((x) => x.symbol === symbol)!;
      expect(b.target.startsWith(type), symbol).toBe(true);
      expect(b.body).toMatch(/existing|parent:\s*vault/);
    }
    // At vault scope: Certificates Officer only, once names are given.
    expect(text).toMatch(
      /var vaultRoles = scopeToObjects\s*\?\s*\[roles\.keyVaultCertificatesOfficer\]\s*:\s*\[roles\.keyVaultCertificatesOfficer, roles\.keyVaultSecretsUser, roles\.keyVaultCryptoUser\]/,
    );
    expect(text).toMatch(/var scopeToObjects = !empty\(certificateNames\)/);
    expect(by("identityVault").scope).toBe("vault");
    // Why the certificate role cannot be narrowed is written down next to it.
    expect(read("app/rbac.bicep")).toMatch(/cannot name a certificate as a scope/);
    // main.bicep passes the names, the Kong token's secret always among the reference secrets.
    const rbacModule = blocks(code("main.bicep")).find((b) => b.symbol === "rbac")!;
    expect(rbacModule.body).toMatch(/certificateNames:\s*certificateNames/);
    expect(rbacModule.body).toMatch(
      /referenceSecretNames:\s*union\(\[kongAdminTokenSecretName\],\s*referenceSecretNames\)/,
    );
  });

  it("the operator reads the vault and sets the reference secrets only: no vault-wide write or secret role", () => {
    const operator = ofPrincipal(/^operatorPrincipalId$/);
    const vaultWide = operator.filter((a) => a.file === "app/rbac.bicep" && a.scope === "vault");
    expect(vaultWide.flatMap((a) => a.roles).filter((r) => r !== ROLE.keyVaultReader)).toEqual([]);
    expect(operator.find((a) => a.symbol === "operatorReferenceSecrets")).toMatchObject({
      scope: "referenceSecrets[i]",
      roles: [ROLE.secretsOfficer],
    });
    // Secrets Officer on the reference vault (vault-reference mode) holds only reference secrets.
    expect(operator.find((a) => a.file === "app/kong-vault-rbac.bicep")?.roles).toEqual([
      ROLE.secretsOfficer,
    ]);
    const forbidden: string[] = [ROLE.certificatesOfficer, ROLE.cryptoUser, ROLE.secretsUser, ROLE.blobOwner];
    for (const a of operator.filter((x) => x.file === "app/rbac.bicep"))
      expect(
        a.roles.filter((r) => forbidden.includes(r)),
        a.symbol,
      ).toEqual([]);
  });

  it("public network access Disabled with private endpoints is a parameter for the vaults and both storage accounts", () => {
    const main = code("main.bicep");
    expect(main).toMatch(/param keyVaultPublicNetworkAccess string = 'Enabled'/);
    expect(main).toMatch(/param storagePublicNetworkAccess string = 'Enabled'/);
    expect(main).toMatch(/param storagePrivateEndpointSubnetId string = ''/);
    expect(main).toMatch(/param keyVaultPrivateEndpointSubnetId string = ''/);
    const b = (s: string) => blocks(main).find((x) => x.symbol === s)!;
    for (const s of ["storage", "packageStorage"])
      expect(b(s).body, s).toMatch(/publicNetworkAccess:\s*storagePublicNetworkAccess/);
    for (const s of ["keyVault", "referenceVault"])
      expect(b(s).body, s).toMatch(/publicNetworkAccess:\s*keyVaultPublicNetworkAccess/);
    const groups = (s: string) => [...b(s).body.matchAll(/groupId:\s*'(\w+)'/g)].map((m) => m[1]);
    expect(b("storagePrivateEndpoints").target).toBe("core/network/private-endpoints.bicep");
    expect(groups("storagePrivateEndpoints")).toEqual(["blob", "queue", "table", "blob"]);
    expect(b("storagePrivateEndpoints").body).toMatch(/packageStorage\.outputs\.id/);
    expect(b("keyVaultPrivateEndpoint").target).toBe("core/network/private-endpoints.bicep");
    expect(groups("keyVaultPrivateEndpoint")).toEqual(["vault", "vault"]);
    // Each storage account denies by default when public access is off.
    for (const f of ["core/storage/storage-account.bicep", "core/storage/package-storage.bicep"]) {
      expect(code(f), f).toMatch(/publicNetworkAccess:\s*publicNetworkAccess/);
      expect(code(f), f).toMatch(/defaultAction:\s*publicNetworkAccess == 'Disabled' \? 'Deny' : 'Allow'/);
      expect(code(f), f).toMatch(/allowSharedKeyAccess:\s*false/);
    }
    // The endpoints module makes one zone per sub-resource, for the four it is given.
    const pe = code("core/network/private-endpoints.bicep");
    for (const g of ["vault", "blob", "queue", "table"])
      expect(pe).toMatch(new RegExp(`\\b${g}:\\s*'privatelink\\.`));
  });

  it("basic-auth publishing is off on both channels (SCM and FTP)", () => {
    const policy = blocks(code("app/rotator.bicep")).find((b) =>
      b.target.startsWith("Microsoft.Web/sites/basicPublishingCredentialsPolicies@"),
    );
    expect(policy?.header).toMatch(/for channel in \['scm', 'ftp'\]/);
    expect(policy?.body).toMatch(/parent:\s*site/);
    expect(policy?.body).toMatch(/allow:\s*false/);
  });

  it("AKS with Entra: the cluster is read for its API server, and nothing grants a cluster credential", () => {
    const main = code("main.bicep");
    expect(main).toMatch(/param aksClusterResourceId string = ''/);
    const aks = blocks(main).find((b) => b.symbol === "aksCluster")!;
    expect(aks.target).toBe("app/aks-cluster.bicep");
    expect(aks.body).toMatch(
      /scope:\s*resourceGroup\(split\(aksClusterResourceId, '\/'\)\[2\], split\(aksClusterResourceId, '\/'\)\[4\]\)/,
    );
    expect(main).toMatch(
      /output AKS_API_SERVER_URL string = !empty\(aksClusterResourceId\) \? aksCluster\.outputs\.apiServerUrl/,
    );
    const module = code("app/aks-cluster.bicep");
    const cluster = blocks(module).find((b) => b.symbol === "cluster")!;
    expect(cluster.target).toMatch(/^Microsoft\.ContainerService\/managedClusters@/);
    expect(read("app/aks-cluster.bicep")).toMatch(/resource cluster '[^']+' existing/);
    expect(module).toMatch(/output apiServerUrl string = 'https:\/\/\$\{fqdn\}:443'/);
    expect(module).toMatch(/aadProfile\.\?managed/);
    // No Azure role hands out kubeconfigs (listClusterUserCredential / listClusterAdminCredential), and no
    // template stores one.
    const everything = FILES.concat(["main.bicep", "app/rotator.bicep", "app/aks-cluster.bicep"])
      .map(code)
      .join("\n");
    expect(everything).not.toContain(ROLE.aksClusterUser);
    expect(everything).not.toContain(ROLE.aksClusterAdmin);
    expect(everything).not.toMatch(/listCluster\w*Credential|kubeconfig/i);
    // The runtime names the AKS server application as the scope of its token.
    const kinds = readFileSync(
      join(INFRA, "..", "src", "adapters", "kong", "kubernetes", "entry.ts"),
      "utf8",
    );
    expect(kinds).toMatch(/accessToken\(`\$\{aks\.serverAppId\}\/\.default`\)/);
  });
});
