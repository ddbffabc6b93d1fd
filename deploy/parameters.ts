import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ROOT } from "../lib/root";

const address = z.string().refine((a) => /^0x[0-9a-fA-F]{40}$/.test(a), "must be a 0x-prefixed 20-byte address");
const integer = (min: number, max: number) => z.number().int().min(min).max(max);
const wei = z.string().regex(/^\d+$/, "must be a decimal integer string (token base units)");

/**
 * One network's deployment parameters (`deploy/parameters/<network>.json`). Every field is checked
 * here, with the core's own caps, so a mistake is refused before anything is deployed.
 */
export const networkParametersSchema = z
  .object({
    /** The payment token; null deploys the test stablecoin (local networks only). */
    paymentToken: address.nullable(),
    core: z.object({
      networkFeeBps: integer(0, 1_000),
      /** An address, or "timelock" (the DAO's treasury). */
      feeDestination: z.union([address, z.literal("timelock")]),
      unlockDelay: integer(0, 30 * 86_400),
      gracePeriod: integer(3_600, 90 * 86_400),
    }),
    governance: z.object({
      token: z.object({
        name: z.string().min(1),
        symbol: z.string().min(1),
        supply: wei,
        /** Who receives the whole supply: an address, or "deployer". */
        holder: z.union([address, z.literal("deployer")]),
      }),
      /** Seconds between queueing a passed proposal and executing it. */
      timelockDelay: integer(0, 30 * 86_400),
      /** Seconds from proposal to the vote's start (the snapshot), and of the vote. */
      votingDelay: integer(0, 30 * 86_400),
      votingPeriod: integer(1, 90 * 86_400),
      proposalThreshold: wei,
      quorumPercent: integer(1, 100),
    }),
    /** The Safe that may cancel proposals (the proposal guardian) and pause the core. */
    guardian: z
      .object({ owners: z.array(address).min(1), threshold: z.number().int().min(1) })
      .refine((g) => g.threshold <= g.owners.length, "threshold must not exceed the number of owners")
      .refine((g) => new Set(g.owners.map((o) => o.toLowerCase())).size === g.owners.length, "owners must differ"),
  })
  .strict();

export type NetworkParameters = z.infer<typeof networkParametersSchema>;

/** Checks parameters from any source; the error names the file and the field. */
export function parseParameters(json: unknown, source: string): NetworkParameters {
  const parsed = networkParametersSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`${source}: invalid deployment parameters\n${lines.join("\n")}`);
  }
  return parsed.data;
}

export const PARAMETERS_DIR = join(ROOT, "deploy", "parameters");

/** `deploy/parameters/<network>.json`, checked. */
export function loadParameters(network: string, dir = PARAMETERS_DIR): NetworkParameters {
  const file = join(dir, `${network}.json`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`no deployment parameters for network "${network}": create ${file} (see deploy/parameters/)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseParameters(json, file);
}
