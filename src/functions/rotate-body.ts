/**
 * The body of `POST /api/credentials/{name}/rotate`. Its zod schema is built on the first request, not at
 * module load: zod's evaluation and the schema's construction were about 27 ms of the entry's import
 * (docs/performance.md, "Startup and package").
 */
import { z } from "zod";

export const rotateBodySchema = z
  .object({
    force: z.boolean().optional(),
    rollback: z.boolean().optional(),
    cancel: z.boolean().optional(),
    overrideCooldown: z.boolean().optional(),
    compromised: z.boolean().optional(),
    revokeUnmanaged: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    reason: z.string().max(500).optional(),
  })
  .strict()
  .refine((b) => [b.force || b.compromised, b.rollback, b.cancel].filter(Boolean).length <= 1, {
    message: "use only one of force (or compromised), rollback and cancel",
  })
  .refine((b) => !b.overrideCooldown || b.force || b.compromised, {
    message: "overrideCooldown goes with force",
  })
  .refine((b) => !b.revokeUnmanaged || b.compromised, { message: "revokeUnmanaged goes with compromised" })
  .refine((b) => !b.compromised || !b.dryRun, {
    message: "compromised has no dry run (POST with dryRun and force shows the new key's steps)",
  })
  .refine((b) => !b.cancel || !b.dryRun, { message: "cancel has no dry run" });

export type RotateBody = z.infer<typeof rotateBodySchema>;
