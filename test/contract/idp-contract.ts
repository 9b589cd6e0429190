/**
 * The identity-provider contract: the same cases for every IdP, run by test/contract/idp-contract.test.ts
 * against each provider's local fake over real HTTPS, through the production adapter built by its registry
 * entry (src/adapters/idp/registry.ts), exactly as the runtime builds it. What differs per provider is data
 * in its harness (how the fake is set up, the codes its refusals carry), never the cases.
 *
 * Cases: the declared rules and issuer form; listing; register (idempotent), activate and verify accepted;
 * verify refused for a key the provider does not hold (its refusal code); withdraw and remove (removing
 * twice resolves); the key limit (one more is refused with a code and nothing is written); a write the
 * service identity may not make, an unknown client and errors mapped to typed codes; the port's hooks that
 * every provider answers (preflightRegister, verifyHint, diagnose).
 */
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IdpConfig } from "../../src/config/load.js";
import { localSigner, type JwsSigner } from "../../src/crypto/jws.js";
import { thumbprints, type SigningAlg } from "../../src/crypto/keymaterial.js";
import { RotatorError } from "../../src/errors.js";
import { registeredIdp, type IdpBuildDeps } from "../../src/adapters/idp/registry.js";
import type { IdentityProvider, IdpKey, PublicKeyMaterial, TokenAttempt } from "../../src/ports/engine.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "../../stack/entra/certs.js";

export interface ContractKey {
  cert: SelfSignedCertificate;
  material: PublicKeyMaterial;
  signer: JwsSigner;
}

/** A new self-signed RSA key as the engine hands it to a provider (kid = x5t). */
export async function contractKey(alg: SigningAlg): Promise<ContractKey> {
  const cert = await selfSignedCertificate({ subject: "CN=idp contract" });
  const t = thumbprints(cert.der);
  const x509 = new X509Certificate(cert.der);
  const jwk = x509.publicKey.export({ format: "jwk" }) as { n: string; e: string };
  return {
    cert,
    signer: localSigner(cert.privateKey, t.x5t, t.x5tS256),
    material: {
      certDer: cert.der,
      certPem: x509.toString(),
      jwk: { kty: "RSA", n: jwk.n, e: jwk.e },
      kid: t.x5t,
      x5t: t.x5t,
      alg,
      notAfter: new Date(x509.validTo),
      displayName: `contract ${t.x5t.slice(0, 8)}`,
    },
  };
}

/** One client at the provider's fake, holding one usable key of ours (`current`), as after a bootstrap. */
export interface ContractClient {
  config: IdpConfig;
  /** Built through the registry entry with the harness's build dependencies. */
  idp: IdentityProvider;
  current: ContractKey;
  /** What the fake holds for the client: each key's kid (x5t) and whether it is usable. */
  held(): { kid: string | undefined; usable: boolean }[];
  /** Make the client hold `count` keys in all (seeded at the fake as a hand-made setup would). */
  fill(count: number): Promise<void>;
  /** The same client through a service identity that may read but not write its keys. */
  readOnly(): Promise<IdentityProvider>;
}

export interface IdpHarness {
  kind: IdpConfig["kind"];
  start(): Promise<void>;
  close(): Promise<void>;
  client(): Promise<ContractClient>;
  /** A client the provider does not know, built like any other. */
  unknownClient(): Promise<IdentityProvider>;
  /** The issuer the fake's token endpoint belongs to (what Kong's plugin names). */
  issuer: () => string;
  /** The codes the provider's answers map to. */
  codes: {
    /** A proof signed by a key the client does not hold (the token endpoint's refusal). */
    unknownKey: { code: string; retryable: boolean };
    /** A key write refused for lack of permission. */
    denied: string;
    /** The client does not exist. */
    unknownClient: string;
    /** One key more than the provider allows (absent: no documented limit). */
    limit?: string;
  };
}

/** The adapter the runtime would build for `config` (src/app/idp.ts does the same through the registry). */
export function buildThroughRegistry(config: IdpConfig, deps: IdpBuildDeps): Promise<IdentityProvider> {
  return registeredIdp(config).create(deps);
}

/** The error a promise rejects with; the test fails unless it is a RotatorError. */
export async function rejection(p: Promise<unknown>): Promise<RotatorError> {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RotatorError);
  return e as RotatorError;
}

/** A key becomes usable at the token endpoint after propagation: poll a few times. */
async function provenWithin(
  idp: IdentityProvider,
  key: ContractKey,
  attempts = 20,
  intervalMs = 250,
): Promise<TokenAttempt> {
  let last: TokenAttempt = { ok: false, code: "none", description: "not tried", retryable: true };
  for (let i = 0; i < attempts; i++) {
    last = await idp.verify(key.signer, key.material.alg);
    if (last.ok || !last.retryable) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return last;
}

const byKid = (keys: IdpKey[], kid: string) => keys.find((k) => k.kid === kid || k.x5t === kid);

export function idpContract(h: IdpHarness): void {
  describe(`identity-provider contract: ${h.kind}`, () => {
    beforeAll(() => h.start(), 60_000);
    afterAll(() => h.close());

    it("declares its rules, its client's name and the issuer form Kong should name, through the registry", async () => {
      const c = await h.client();
      const registered = registeredIdp(c.config);
      expect(c.idp.kind).toBe(h.kind);
      expect(c.idp.rules).toEqual(registered.rules);
      expect(c.idp.client).toBe(registered.client);
      expect(c.idp.client).toContain(c.config.clientId);
      expect(c.idp.rules.algorithms.length).toBeGreaterThan(0);
      expect(registered.issuer.matches(h.issuer())).toBe(true);
      expect(registered.issuer.matches("https://issuer.invalid/other")).toBe(false);
      expect(h.codes.limit === undefined).toBe(!Number.isFinite(c.idp.rules.maxKeys));
    });

    it("lists the client's keys: the current key is usable", async () => {
      const c = await h.client();
      const keys = await c.idp.listKeys();
      expect(keys).toHaveLength(1);
      expect(byKid(keys, c.current.material.x5t)).toMatchObject({ usable: true });
    });

    it("registers a key idempotently, makes it usable with activate, and the token endpoint accepts it", async () => {
      const c = await h.client();
      const next = await contractKey(c.idp.rules.algorithms[0]!);
      const key = await c.idp.register(next.material, c.current.signer);
      const again = await c.idp.register(next.material, c.current.signer);
      expect(again.id).toBe(key.id);
      expect(c.held().filter((k) => k.kid === next.material.kid)).toHaveLength(1);
      // A staged provider registers the key unusable: the token endpoint refuses it until activate().
      expect(key.usable).toBe(!c.idp.rules.staged);
      if (c.idp.rules.staged)
        expect(await c.idp.verify(next.signer, next.material.alg)).toMatchObject({ ok: false });
      await c.idp.activate(key);
      expect(byKid(await c.idp.listKeys(), next.material.x5t)).toMatchObject({ id: key.id, usable: true });
      expect(await provenWithin(c.idp, next)).toEqual({ ok: true });
      // The current key still works: registering never disturbs it.
      expect(await provenWithin(c.idp, c.current)).toEqual({ ok: true });
    });

    it("refuses a proof signed by a key the client does not hold, with the provider's code", async () => {
      const c = await h.client();
      const stranger = await contractKey(c.idp.rules.algorithms[0]!);
      const attempt = await c.idp.verify(stranger.signer, stranger.material.alg);
      expect(attempt).toMatchObject({ ok: false, ...h.codes.unknownKey });
      expect(c.idp.verifyHint(stranger.material.x5t)).toContain(stranger.material.x5t);
    });

    it("withdraws and removes a key; removing it again resolves", async () => {
      const c = await h.client();
      const next = await contractKey(c.idp.rules.algorithms[0]!);
      const key = await c.idp.register(next.material, c.current.signer);
      await c.idp.activate(key);
      await c.idp.withdraw(key);
      // Withdrawal makes a staged provider's key unusable; elsewhere removal is the withdrawal.
      expect(byKid(await c.idp.listKeys(), next.material.x5t)?.usable).toBe(!c.idp.rules.staged);
      await c.idp.remove(key, c.current.signer);
      expect(byKid(await c.idp.listKeys(), next.material.x5t)).toBeUndefined();
      expect(c.held().map((k) => k.kid)).toEqual([c.current.material.kid]);
      await c.idp.remove(key, c.current.signer);
      expect(await provenWithin(c.idp, c.current)).toEqual({ ok: true });
    });

    it("keeps to its key limit: one key more is refused with a typed code and nothing is written", async () => {
      const c = await h.client();
      if (!Number.isFinite(c.idp.rules.maxKeys)) {
        // No documented limit (IdpRules.maxKeys): a second key is simply registered.
        const next = await contractKey(c.idp.rules.algorithms[0]!);
        await c.idp.register(next.material, c.current.signer);
        expect(c.held()).toHaveLength(2);
        return;
      }
      await c.fill(c.idp.rules.maxKeys);
      expect(c.held()).toHaveLength(c.idp.rules.maxKeys);
      const one = await contractKey(c.idp.rules.algorithms[0]!);
      const e = await rejection(c.idp.register(one.material, c.current.signer));
      expect(e.code).toBe(h.codes.limit);
      expect(e.hint).toBeTruthy();
      expect(c.held()).toHaveLength(c.idp.rules.maxKeys);
    });

    it("a key write the service identity may not make is refused with a typed code and changes nothing", async () => {
      const c = await h.client();
      const denied = await c.readOnly();
      expect(byKid(await denied.listKeys(), c.current.material.x5t)).toBeDefined();
      const next = await contractKey(c.idp.rules.algorithms[0]!);
      // Without a current key to sign with, as at bootstrap: the privileged path where a provider has one.
      const e = await rejection(denied.register(next.material));
      expect(e.code).toBe(h.codes.denied);
      expect(e.hint).toBeTruthy();
      expect(c.held().map((k) => k.kid)).toEqual([c.current.material.kid]);
    });

    it("an unknown client is reported with a typed code", async () => {
      const idp = await h.unknownClient();
      const e = await rejection(idp.listKeys());
      expect(e.code).toBe(h.codes.unknownClient);
      expect(e.hint).toBeTruthy();
    });

    it("answers the port's hooks: preflightRegister, diagnose with what doctor knows, verifyHint", async () => {
      const c = await h.client();
      expect(await c.idp.preflightRegister(true)).toBeUndefined();
      for (const currentKey of [c.current.material.x5t, undefined]) {
        const findings = await c.idp.diagnose({ currentKey });
        for (const f of findings) {
          expect(["pass", "info", "warn", "fail"]).toContain(f.status);
          expect(f.code).toMatch(/^[A-Z0-9_]+$/);
          expect(f.status).not.toBe("fail");
        }
      }
    });
  });
}
