/**
 * The tag writer of one step or run: Key Vault replaces the whole tag map on update, so a second write to
 * the same version must merge into the first one, not into the stale snapshot. The book remembers what it
 * already wrote (tag names and limits: ./tags.ts).
 */
import type { CertificateStore } from "../ports/engine.js";
import { mergeTags, type Generation, type TagChanges } from "./tags.js";

export class TagBook {
  private readonly written = new Map<string, Record<string, string>>();

  constructor(
    private readonly store: CertificateStore,
    private readonly certificateName: string,
  ) {}

  async write(g: Generation, changes: TagChanges, enabled?: boolean): Promise<void> {
    const tags = mergeTags(this.written.get(g.version) ?? g.tags, changes);
    await this.store.updateVersion(
      this.certificateName,
      g.version,
      enabled === undefined ? { tags } : { tags, enabled },
    );
    this.written.set(g.version, tags);
  }

  /** The tags as last written in this step, else as observed. */
  current(g: Generation): Readonly<Record<string, string>> {
    return this.written.get(g.version) ?? g.tags;
  }
}
