/**
 * The small part of oidc-provider's API (https://github.com/panva/node-oidc-provider/blob/main/docs/README.md)
 * that the Entra fake uses. The package ships no type declarations.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export type AdapterPayload = Record<string, unknown>;

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  /** The errors oidc-provider raises; `error_detail` says which check failed. */
  export interface ProviderError extends Error {
    error?: string;
    error_description?: string;
    error_detail?: string;
    statusCode?: number;
  }

  export interface ProviderContext {
    status: number;
    body: unknown;
    oidc?: { route?: string; client?: { clientId: string } };
    set(field: string, value: string): void;
  }

  export const errors: {
    InvalidClientAuth: new (detail: string) => ProviderError;
  };

  export type Middleware = (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>;

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    use(middleware: Middleware): this;
    on(event: "grant.error", listener: (ctx: ProviderContext, error: ProviderError) => void): this;
  }
}
