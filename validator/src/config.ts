import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Wallet } from "ethers";
import { z } from "zod";
import { loadKey } from "../../lib/keys";
import { DdcError } from "../../lib/errors";
import { redactUrl } from "../../lib/redact";

/**
 * The validator's configuration: a JSON file, checked whole (every problem named by its path).
 * Secrets never sit in it: the key comes from the environment variable `key.env` names or from an
 * encrypted keystore whose password is in the variable `key.passwordEnv` names. DDC_VALIDATOR_RPC
 * overrides `chain.rpcUrl`, DDC_VALIDATOR_LOG_LEVEL `log.level`.
 */

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address (0x + 40 hex digits)");
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name");
const port = z.number().int().min(0).max(65_535);
const httpUrl = z.url({ protocol: /^https?$/, error: "an http(s) URL" });
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The fewest probes per node per era: fewer would make one lost packet cost 10 % of availability. */
export const MIN_PROBES = 20;

export const validatorConfigSchema = z
  .object({
    chain: z
      .object({
        rpcUrl: httpUrl,
        /** The DDC core's address. */
        core: address,
      })
      .strict(),
    key: z.union([
      z.object({ env: envName }).strict(),
      z
        .object({ keystore: z.string().min(1), passwordEnv: envName.default("DDC_VALIDATOR_KEYSTORE_PASSWORD") })
        .strict(),
    ]),
    /** The clusters to validate; every cluster naming this validator unless given. */
    clusters: z.array(z.number().int().min(1).max(0xffff_ffff)).min(1).optional(),
    /** The manager bots' intakes the reports go to (each one gets every report). */
    bots: z.array(z.object({ url: httpUrl }).strict()).default([]),
    /** Where the copies of the reports and the detail files are kept (relative: from the file's directory). */
    dataDir: z.string().min(1),
    probes: z
      .object({
        /** Probes per node per era, at random times through the era. */
        perEra: z.number().int().min(MIN_PROBES).max(10_000).default(MIN_PROBES),
        timeoutMs: z.number().int().min(50).max(60_000).default(2_000),
      })
      .strict()
      .default({ perEra: MIN_PROBES, timeoutMs: 2_000 }),
    challenges: z
      .object({
        /** Leaves challenged per node per era (a timeout is tried once more later in the era). */
        perNode: z.number().int().min(1).max(1_000).default(30),
        timeoutMs: z.number().int().min(50).max(60_000).default(5_000),
      })
      .strict()
      .default({ perNode: 30, timeoutMs: 5_000 }),
    /** Submission to the bots: tries per bot and the first wait between them (doubled each time). */
    submit: z
      .object({
        attempts: z.number().int().min(1).max(20).default(6),
        backoffMs: z.number().int().min(10).max(60_000).default(1_000),
      })
      .strict()
      .default({ attempts: 6, backoffMs: 1_000 }),
    /** The health and metrics server; off unless given. */
    ops: z
      .object({ host: z.string().default("127.0.0.1"), port })
      .strict()
      .optional(),
    log: z
      .object({ level: z.enum(LOG_LEVELS).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict();

type FileConfig = z.infer<typeof validatorConfigSchema>;

export interface ValidatorConfig extends Omit<FileConfig, "key" | "log"> {
  key: { kind: "env"; name: string } | { kind: "keystore"; file: string; passwordEnv: string };
  logLevel: (typeof LOG_LEVELS)[number];
}

export class ValidatorConfigError extends DdcError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid validator configuration ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ValidatorConfigError";
  }
}

/**
 * Checks a parsed configuration (`file` names it in errors; relative paths are from its
 * directory) and the environment it needs: every problem at once.
 */
export function parseValidatorConfig(
  raw: unknown,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): ValidatorConfig {
  const parsed = validatorConfigSchema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(the file)"}: ${i.message}`);
  const logLevel = env.DDC_VALIDATOR_LOG_LEVEL;
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`DDC_VALIDATOR_LOG_LEVEL: one of ${LOG_LEVELS.join(", ")}`);
  }
  const rpc = env.DDC_VALIDATOR_RPC;
  if (rpc !== undefined && !/^https?:\/\/./.test(rpc)) problems.push("DDC_VALIDATOR_RPC: an http(s) URL");
  if (!parsed.success) throw new ValidatorConfigError(file, problems);
  const c = parsed.data;
  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const key: ValidatorConfig["key"] =
    "keystore" in c.key
      ? { kind: "keystore", file: path(c.key.keystore), passwordEnv: c.key.passwordEnv }
      : { kind: "env", name: c.key.env };
  if (key.kind === "env" && !env[key.name]) problems.push(`key.env: the environment variable ${key.name} is not set`);
  if (key.kind === "keystore" && !env[key.passwordEnv]) {
    problems.push(`key.passwordEnv: the environment variable ${key.passwordEnv} (the keystore's password) is not set`);
  }
  if (c.clusters !== undefined && new Set(c.clusters).size !== c.clusters.length) {
    problems.push("clusters: a cluster is listed twice");
  }
  if (problems.length > 0) throw new ValidatorConfigError(file, problems);
  return {
    ...c,
    chain: { ...c.chain, rpcUrl: rpc ?? c.chain.rpcUrl },
    key,
    dataDir: path(c.dataDir),
    logLevel: (logLevel as ValidatorConfig["logLevel"] | undefined) ?? c.log.level,
  };
}

/** Reads and checks the configuration file. */
export function loadValidatorConfig(file: string, env: NodeJS.ProcessEnv = process.env): ValidatorConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ValidatorConfigError(file, ["no such file"]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ValidatorConfigError(file, [`not JSON: ${(error as Error).message}`]);
  }
  return parseValidatorConfig(raw, file, env);
}

/** The validator's key, from the environment or its keystore. */
export async function loadValidatorKey(config: ValidatorConfig, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  return loadKey(config.key, env);
}

/** The configuration without anything secret, for the start-up log line. */
export function describeValidatorConfig(c: ValidatorConfig): Record<string, unknown> {
  return {
    rpc: redactUrl(c.chain.rpcUrl),
    core: c.chain.core,
    key: c.key.kind === "env" ? `env ${c.key.name}` : `keystore ${c.key.file}`,
    clusters: c.clusters ?? "every cluster naming this validator",
    bots: c.bots.map((b) => redactUrl(b.url)),
    dataDir: c.dataDir,
    probes: c.probes,
    challenges: c.challenges,
  };
}
