/**
 * Storage discovery from the Functions `AzureWebJobsStorage` convention, exercised against the REAL
 * Azurite for the connection-string path.
 */
import type { TokenCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type RunningAzurite } from "../../stack/azurite.js";
import { storageFromEnv } from "../../src/adapters/storage.js";
import { redactText } from "../../src/log/redact.js";

const credential: TokenCredential = {
  getToken: async () => ({ token: "unused", expiresOnTimestamp: Date.now() + 60_000 }),
};

let azurite: RunningAzurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.close();
});

describe("storageFromEnv", () => {
  it("is undefined when nothing is configured", () => {
    expect(storageFromEnv({}, credential)).toBeUndefined();
    expect(storageFromEnv({ AzureWebJobsStorage: "  " }, credential)).toBeUndefined();
  });

  it("uses an Azurite connection string, describing it without the account key", async () => {
    const storage = storageFromEnv({ AzureWebJobsStorage: azurite.connectionString }, credential);
    expect(storage?.blob.url).toBe(azurite.blobEndpoint);
    expect(storage?.describe).toContain(azurite.blobEndpoint);
    expect(storage?.describe).not.toMatch(/AccountKey|Eby8vdM02/);
    const container = storage?.blob.getContainerClient("probe-container");
    await container?.createIfNotExists();
    expect(await container?.exists()).toBe(true);
  });

  it("registers the account key with the redactor", () => {
    storageFromEnv({ AzureWebJobsStorage: azurite.connectionString }, credential);
    const key = /AccountKey=([^;]+)/.exec(azurite.connectionString)?.[1] ?? "";
    expect(redactText(`oops ${key}`)).not.toContain(key);
  });

  it("understands UseDevelopmentStorage=true (Azurite's default ports)", () => {
    expect(storageFromEnv({ AzureWebJobsStorage: "UseDevelopmentStorage=true" }, credential)?.blob.url).toBe(
      "http://127.0.0.1:10000/devstoreaccount1",
    );
  });

  it("keeps a SAS out of the description", () => {
    const sas = "sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJl";
    const storage = storageFromEnv(
      {
        AzureWebJobsStorage: `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${sas}`,
      },
      credential,
    );
    expect(storage?.describe).toContain("https://acct.blob.core.windows.net");
    expect(storage?.describe).not.toContain("sig=");
  });

  it("prefers the connection string over identity settings, as the Functions host does", () => {
    const storage = storageFromEnv(
      { AzureWebJobsStorage: azurite.connectionString, AzureWebJobsStorage__accountName: "prodacct" },
      credential,
    );
    expect(storage?.blob.url).toBe(azurite.blobEndpoint);
  });

  it("builds identity-based clients from __blobServiceUri and __accountName", () => {
    const byUri = storageFromEnv(
      { AzureWebJobsStorage__blobServiceUri: "https://acct.blob.core.usgovcloudapi.net/" },
      credential,
    );
    expect(byUri?.blob.url.replace(/\/$/, "")).toBe("https://acct.blob.core.usgovcloudapi.net");
    expect(byUri?.describe).toContain("identity");
    const byName = storageFromEnv({ AzureWebJobsStorage__accountName: "prodacct" }, credential);
    expect(byName?.blob.url.replace(/\/$/, "")).toBe("https://prodacct.blob.core.windows.net");
    expect(byName?.blob.accountName).toBe("prodacct");
  });

  it("rejects settings that cannot work, without echoing secrets", () => {
    expect(() =>
      storageFromEnv(
        { AzureWebJobsStorage__blobServiceUri: "http://acct.blob.core.windows.net" },
        credential,
      ),
    ).toThrow(expect.objectContaining({ code: "STORAGE_CONFIG_INVALID" }));
    expect(() => storageFromEnv({ AzureWebJobsStorage__accountName: "Not_An_Account" }, credential)).toThrow(
      expect.objectContaining({ code: "STORAGE_CONFIG_INVALID" }),
    );
    let error: unknown;
    try {
      storageFromEnv(
        {
          AzureWebJobsStorage:
            "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0a2V5;EndpointSuffix=core.windows.net",
        },
        credential,
      );
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "STORAGE_CONFIG_INVALID" });
    expect(JSON.stringify(error)).not.toContain("c2VjcmV0a2V5");
  });
});
