/** A kubeconfig file for the Kubernetes fake (stack/kubernetes): its URL and CA, and a bearer token. */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function writeKubeconfig(
  dir: string,
  k: { url: string },
  ca: string,
  token: string,
  namespace: string,
): string {
  const path = join(dir, `kubeconfig-${randomBytes(4).toString("hex")}`);
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: fake\n  cluster:\n    server: ${k.url}\n    certificate-authority-data: ${Buffer.from(ca).toString("base64")}`,
      "users:",
      `- name: rotator\n  user:\n    token: ${token}`,
      "contexts:",
      `- name: fake\n  context:\n    cluster: fake\n    user: rotator\n    namespace: ${namespace}`,
      "current-context: fake",
      "",
    ].join("\n"),
  );
  return path;
}
