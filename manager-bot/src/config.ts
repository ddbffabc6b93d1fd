import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseEther, parseUnits } from "ethers";
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { DdcError } from "../../lib/errors";
import { redactUrl } from "../../lib/redact";
import { DEFAULT_BODY_LIMIT } from "./intake";
import { DEFAULT_TX_OPTIONS, type TxOptions } from "./tx";

/**
 * The bot's configuration: a JSON file plus the environment, validated once at start with every
 * problem listed. Secrets are never in the file: the key comes from an encrypted keystore (its
 * password in an environment variable) or from an environment variable, by name.
 *
 * Environment: DDC_BOT_RPC (overrides `rpc`), DDC_BOT_STORE (overrides `store`), DDC_BOT_KEY or
 * the variable `key.env` names (a private key), DDC_BOT_KEYSTORE_PASSWORD or the variable
 * `key.passwordEnv` names (the keystore's password), DDC_BOT_LOG_LEVEL.
 */

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address (0x + 40 hex digits)");
const decimal = z.string().regex(/^\d+(\.\d+)?$/, "a decimal number as a string");
/** A decimal amount with at most `decimals` decimals (gwei: 9, ether: 18). */
const amount = (decimals: number) =>
  z
    .string()
    .regex(new RegExp(`^\\d+(\\.\\d{1,${decimals}})?$`), `a decimal number as a string, at most ${decimals} decimals`);
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name");

/** A cron expression as node-cron reads it: five fields (minute hour day month weekday), or six with seconds first. */
const cron = z.string().refine((s) => validateCron(s), 'a cron expression (e.g. "*/5 * * * *")');

const clusterSchema = z
  .object({
    id: z.number().int().positive(),
    /**
     * Who decides replacements: the DAO (Governor proposals), a Safe (transactions its owners sign),
     * or a plain key, the bot's own (it sends every action itself: the development default).
     */
    manager: z.discriminatedUnion(
      "kind",
      [
        z.object({ kind: z.literal("governor") }).strict(),
        z.object({ kind: z.literal("key") }).strict(),
        z
          .object({
            kind: z.literal("safe"),
            /** The Safe's address, or its name in the deployment record (e.g. "DemoOperationsSafe"). */
            safe: z.union([address, z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/)], {
              error: "an address (0x + 40 hex digits) or a contract name of the deployment record",
            }),
            /** The shared signature store: a directory, the URL of a signature server or of a Safe Transaction Service, or `safe` (Safe's own service, with DDC_SAFE_API_KEY). */
            store: z.string().min(1),
          })
          .strict(),
      ],
      // An unknown kind (the discriminator matches no option): the kinds there are.
      { error: (issue) => (issue.code === "invalid_union" ? 'one of "governor", "safe" or "key"' : undefined) },
    ),
    /** Routine work (settlement, usage reports, distribution) by the bot's key as the cluster's operator, or by the manager. */
    routine: z.enum(["operator", "manager"]).default("operator"),
    policy: z
      .object({
        failingEras: z.number().int().min(1).default(3),
        // One replace-node action per (cluster, era): its action key holds no node.
        maxPerEra: z
          .number()
          .int()
          .min(0)
          .max(1, "at most 1: an era's replacement is one action (cluster, era, replace-node)")
          .default(1),
      })
      .strict()
      .default({ failingEras: 3, maxPerEra: 1 }),
    missed: z
      .object({
        mode: z.enum(["catch-up", "skip"]).default("catch-up"),
        waitEras: z.number().int().min(1).default(3),
      })
      .strict()
      .default({ mode: "catch-up", waitEras: 3 }),
    /** Settle due buckets each era (the minimum accrued rent, in whole payment-token units); null: never. */
    settlement: z.object({ minimum: decimal }).strict().nullable().default({ minimum: "1" }),
    paused: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    /** The JSON-RPC endpoint (DDC_BOT_RPC overrides it). */
    rpc: z.url({ protocol: /^https?$/, error: "an http(s) URL" }),
    /** The deployment record (deployments/<network>.json): the core, the lens, the Governor. */
    deployment: z.string().min(1),
    key: z.union([
      z.object({ env: envName.default("DDC_BOT_KEY") }).strict(),
      z.object({ keystore: z.string().min(1), passwordEnv: envName.default("DDC_BOT_KEYSTORE_PASSWORD") }).strict(),
    ]),
    /** The SQLite store (DDC_BOT_STORE overrides it). */
    store: z.string().min(1),
    /** When the bot runs (node-cron); a run never overlaps the previous one. */
    schedule: cron.default("*/5 * * * *"),
    /** /health, /ready and /metrics. */
    http: z
      .object({ host: z.string().default("127.0.0.1"), port: z.number().int().min(0).max(65_535).default(9464) })
      .strict()
      .default({ host: "127.0.0.1", port: 9464 }),
    /** Validators' reports: POST /reports, and/or a directory scanned each run. */
    intake: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65_535).nullable().default(8080),
        directory: z.string().min(1).nullable().default(null),
        /** The largest `POST /reports` body: a report of 100,000 buckets is about 4.5 MB. */
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 ** 3)
          .default(DEFAULT_BODY_LIMIT),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 8080, directory: null, bodyLimitBytes: DEFAULT_BODY_LIMIT }),
    /**
     * Other bots deciding the same clusters (their addresses): a proposal or Safe transaction one
     * of them made for a decision is this bot's own; anyone else's is foreign.
     */
    replicas: z.array(address).default([]),
    /**
     * Where the ops server's `GET /evidence/:hash` is reachable by the public (a reverse proxy's
     * URL, say): the actions' descriptions name `<baseUrl>/evidence/<hash>`. null: they do not.
     */
    evidence: z
      .object({
        baseUrl: z
          .url({ protocol: /^https?$/, error: "an http(s) URL" })
          .refine((u) => !/[?#]/.test(u), "a base URL: no query or fragment")
          .nullable()
          .default(null),
      })
      .strict()
      .default({ baseUrl: null }),
    /** Where log reads of the core begin (its deployment block). */
    fromBlock: z.number().int().min(0).default(0),
    clusters: z.array(clusterSchema).min(1, "at least one cluster"),
    tx: z
      .object({
        maxFeePerGasGwei: amount(9).default("200"),
        priorityFeeGwei: amount(9).default("1"),
        receiptTimeoutSeconds: z.number().min(1).default(120),
        maxBumps: z.number().int().min(0).max(10).default(3),
        bumpPercent: z.number().int().min(13).max(100).default(15),
      })
      .strict()
      .default({
        maxFeePerGasGwei: "200",
        priorityFeeGwei: "1",
        receiptTimeoutSeconds: 120,
        maxBumps: 3,
        bumpPercent: 15,
      }),
    alerts: z
      .object({
        /** Below this balance (in ether) of the bot's key, a low-balance alert each run. */
        minBalance: amount(18).default("0.1"),
        /** An open action not moved for this long is stuck. */
        stuckAfterMinutes: z
          .number()
          .positive()
          .default(24 * 60),
      })
      .strict()
      .default({ minBalance: "0.1", stuckAfterMinutes: 24 * 60 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (
      c.intake.port !== null &&
      c.intake.port !== 0 &&
      c.intake.port === c.http.port &&
      c.intake.host === c.http.host
    ) {
      ctx.addIssue({ code: "custom", path: ["intake", "port"], message: `the same as http.port (${c.http.port})` });
    }
    const seen = new Set<number>();
    for (const [i, cl] of c.clusters.entries()) {
      if (seen.has(cl.id))
        ctx.addIssue({ code: "custom", path: ["clusters", i, "id"], message: `cluster ${cl.id} twice` });
      seen.add(cl.id);
    }
  });

export type FileConfig = z.infer<typeof configSchema>;
export type ClusterConfig = z.infer<typeof clusterSchema>;

/** The configuration as the bot uses it: paths resolved, amounts in base units, the key's source named. */
export interface BotConfig extends Omit<FileConfig, "tx" | "alerts" | "key" | "intake"> {
  /** `bodyLimitBytes` may be left out by a configuration built in code: `DEFAULT_BODY_LIMIT`. */
  intake: Omit<FileConfig["intake"], "bodyLimitBytes"> & { bodyLimitBytes?: number };
  key: { kind: "env"; name: string } | { kind: "keystore"; file: string; passwordEnv: string };
  tx: TxOptions;
  alerts: { minBalance: bigint; stuckAfterSeconds: number };
  logLevel: string;
}

/** A configuration the bot refuses: every problem, one a line (the CLI prints it whole). */
export class ConfigError extends DdcError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid bot configuration ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Reads, validates and resolves the configuration; throws a ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): BotConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(file, [e.code === "ENOENT" ? "no such file" : `not JSON: ${e.message}`]);
  }
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    if (env.DDC_BOT_RPC) o.rpc = env.DDC_BOT_RPC;
    if (env.DDC_BOT_STORE) o.store = env.DDC_BOT_STORE;
  }
  const parsed = configSchema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(the file)"}: ${i.message}`);
  const logLevel = env.DDC_BOT_LOG_LEVEL ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`DDC_BOT_LOG_LEVEL: one of ${LOG_LEVELS.join(", ")}`);
  if (!parsed.success) throw new ConfigError(file, problems);
  const c = parsed.data;
  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const key: BotConfig["key"] =
    "keystore" in c.key
      ? { kind: "keystore", file: path(c.key.keystore), passwordEnv: c.key.passwordEnv }
      : { kind: "env", name: c.key.env };
  // The secret must be there (it is read, never logged, when the bot starts).
  if (key.kind === "env" && !env[key.name]) problems.push(`key.env: the environment variable ${key.name} is not set`);
  if (key.kind === "keystore" && !env[key.passwordEnv]) {
    problems.push(`key.passwordEnv: the environment variable ${key.passwordEnv} (the keystore's password) is not set`);
  }
  const cap = parseUnits(c.tx.maxFeePerGasGwei, "gwei");
  const priority = parseUnits(c.tx.priorityFeeGwei, "gwei");
  if (priority > cap) problems.push("tx.priorityFeeGwei: above tx.maxFeePerGasGwei");
  if (problems.length > 0) throw new ConfigError(file, problems);
  return {
    ...c,
    deployment: path(c.deployment),
    store: c.store === ":memory:" ? c.store : path(c.store),
    intake: { ...c.intake, directory: c.intake.directory === null ? null : path(c.intake.directory) },
    clusters: c.clusters.map((cl) =>
      cl.manager.kind === "safe" && !/^https?:\/\//.test(cl.manager.store)
        ? { ...cl, manager: { ...cl.manager, store: path(cl.manager.store) } }
        : cl,
    ),
    key,
    tx: {
      ...DEFAULT_TX_OPTIONS,
      maxFeePerGasCap: cap,
      priorityFee: priority,
      receiptTimeoutMs: c.tx.receiptTimeoutSeconds * 1000,
      maxBumps: c.tx.maxBumps,
      bumpPercent: c.tx.bumpPercent,
    },
    alerts: { minBalance: parseEther(c.alerts.minBalance), stuckAfterSeconds: c.alerts.stuckAfterMinutes * 60 },
    logLevel,
  };
}

/** The configuration without anything secret, for the start-up log line. */
export function describeConfig(c: BotConfig): Record<string, unknown> {
  return {
    rpc: redactUrl(c.rpc),
    deployment: c.deployment,
    store: c.store,
    key: c.key.kind === "env" ? `env ${c.key.name}` : `keystore ${c.key.file}`,
    schedule: c.schedule,
    evidence: c.evidence.baseUrl,
    clusters: c.clusters.map((cl) => ({ id: cl.id, manager: cl.manager.kind, routine: cl.routine, paused: cl.paused })),
  };
}
