import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { DdcError } from "../../lib/errors";
import { redactUrl } from "../../lib/redact";
import { MAX_OBJECT_BYTES } from "./protocol";

/** Memory for objects read whole and checked (`data.cache.bytes`). */
export const VERIFIED_CACHE_BYTES = 256 * 1024 * 1024;
/** The largest object that memory keeps (`data.cache.maxObjectBytes`). */
export const VERIFIED_CACHE_MAX_OBJECT_BYTES = 8 * 1024 * 1024;

/**
 * The storage node's configuration: a JSON file plus the environment, validated once at start with
 * every problem listed (the field's path and the file). Secrets are never in the file: the node's
 * signing key comes from an encrypted keystore (its password in an environment variable) or from
 * the environment variable DDC_NODE_KEY.
 *
 * Environment: DDC_NODE_RPC (overrides `chain.rpcUrl`), DDC_NODE_KEY (the key when `node.key` is
 * `{ "env": "DDC_NODE_KEY" }`), the variable `node.key.passwordEnv` names, DDC_NODE_LOG_LEVEL
 * (overrides `log.level`).
 */

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address (0x + 40 hex digits)");
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "an environment variable name");
const port = z.number().int().min(0).max(65_535);
const httpUrl = z.url({ protocol: /^https?$/, error: "an http(s) URL" });
/** Token amounts and unit counts are decimal strings: they pass 2^53. */
const uintString = z
  .string({ error: "a whole number as a decimal string" })
  .regex(/^\d+$/, "a whole number as a decimal string");
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const configSchema = z
  .object({
    chain: z
      .object({
        /** The JSON-RPC endpoint (DDC_NODE_RPC overrides it). */
        rpcUrl: httpUrl,
        /** The DDC core's address. */
        core: address,
        /** The lens (placement reads); optional: the node computes placement itself. */
        lens: address.optional(),
      })
      .strict(),
    node: z
      .object({
        /** The node's id, when known: checked against the one registered for the key. */
        id: z.number().int().positive().max(0xffff_ffff).optional(),
        /** The node's signing key (never the provider's key). */
        key: z.union([
          z
            .object({ keystore: z.string().min(1), passwordEnv: envName.default("DDC_NODE_KEYSTORE_PASSWORD") })
            .strict(),
          z.object({ env: z.literal("DDC_NODE_KEY", { error: 'must be "DDC_NODE_KEY"' }) }).strict(),
        ]),
        /** The public URL clients reach this node at: one of its registered URLs. */
        url: httpUrl.refine((u) => !/[?#]/.test(u), "a base URL: no query or fragment"),
        engine: z.literal("ddc-storage", { error: 'must be "ddc-storage"' }).default("ddc-storage"),
        /** Defaults to the package's version. */
        version: z.string().min(1).max(31).optional(),
        /** Units offered to clusters (the registration's capacity). */
        capacity: uintString,
        /** Rent asked per vNode per month per unit, in base units of the payment token. */
        rent: uintString,
        metadata: z.string().default(""),
      })
      .strict(),
    data: z
      .object({
        /** The metadata database and, for `fs` blobs, the blobs. */
        dir: z.string().min(1),
        blobs: z
          .discriminatedUnion(
            "kind",
            [
              z.object({ kind: z.literal("fs") }).strict(),
              z
                .object({
                  kind: z.literal("s3"),
                  endpoint: httpUrl.optional(),
                  region: z.string().min(1),
                  bucket: z.string().min(1),
                  prefix: z.string().default(""),
                  forcePathStyle: z.boolean().default(false),
                })
                .strict(),
            ],
            { error: (issue) => (issue.code === "invalid_union" ? 'one of "fs" or "s3"' : undefined) },
          )
          .default({ kind: "fs" }),
        /**
         * Objects read whole and checked are kept in memory (LRU, bounded in bytes), so a hot
         * object skips the disk and the re-hash; the scrub still re-reads every blob from the disk.
         */
        cache: z
          .object({
            bytes: z.number().int().min(0).default(VERIFIED_CACHE_BYTES),
            maxObjectBytes: z.number().int().min(0).max(MAX_OBJECT_BYTES).default(VERIFIED_CACHE_MAX_OBJECT_BYTES),
          })
          .strict()
          .default({ bytes: VERIFIED_CACHE_BYTES, maxObjectBytes: VERIFIED_CACHE_MAX_OBJECT_BYTES }),
      })
      .strict(),
    server: z
      .object({
        host: z.string().default("0.0.0.0"),
        port: port.default(8090),
        bodyLimitBytes: z.number().int().min(1).max(MAX_OBJECT_BYTES).default(MAX_OBJECT_BYTES),
        /** A whole request, body included (64 MiB at 1 MB/s takes 64 s). */
        requestTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
        /** A socket idle this long is closed. */
        connectionTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
        headersTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
        maxRequestsPerSocket: z.number().int().min(0).default(1000),
        /** After `bodyGraceMs`, a PUT body must average this many bytes/s (0: no minimum). */
        minBodyBytesPerS: z.number().int().min(0).default(65_536),
        bodyGraceMs: z.number().int().min(0).max(600_000).default(10_000),
        /** Challenges one validator may make per era. */
        challengesPerEra: z.number().int().min(1).default(256),
        /**
         * Refuse to assign versions while this node's clock is behind the chain's latest block by
         * more than half the allowed skew. Off for a development chain whose time is moved
         * (`evm_increaseTime`), where block times run ahead of every clock.
         */
        clockCheck: z.boolean().default(true),
      })
      .strict()
      .default({
        host: "0.0.0.0",
        port: 8090,
        bodyLimitBytes: MAX_OBJECT_BYTES,
        requestTimeoutMs: 120_000,
        connectionTimeoutMs: 60_000,
        keepAliveTimeoutMs: 5000,
        headersTimeoutMs: 30_000,
        maxRequestsPerSocket: 1000,
        minBodyBytesPerS: 65_536,
        bodyGraceMs: 10_000,
        challengesPerEra: 256,
        clockCheck: true,
      }),
    /** What the node keeps for its cluster's validators. */
    qos: z
      .object({
        /** Closed eras per bucket whose era-end manifest is kept (listed to validators); older ones are dropped. */
        manifestEras: z.number().int().min(1).max(1024).default(8),
      })
      .strict()
      .default({ manifestEras: 8 }),
    /** /health, /ready and /metrics, on their own port (keep it private). */
    ops: z
      .object({ host: z.string().default("127.0.0.1"), port: port.default(9465) })
      .strict()
      .default({ host: "127.0.0.1", port: 9465 }),
    scrub: z
      .object({ intervalS: z.number().int().min(0).default(3600) })
      .strict()
      .default({ intervalS: 3600 }),
    /** Copies to the other replicas, hinted handoff, repair after ring changes, anti-entropy. */
    replication: z
      .object({
        /** Off only for a cluster of replication factor 1 that never changes (a benchmark). */
        enabled: z.boolean().default(true),
        /** The clusters to replicate; by default those the core lists this node in (found from its events). */
        clusters: z.array(z.number().int().positive().max(0xffff_ffff)).optional(),
        /** Per-request timeout towards a peer. */
        timeoutMs: z.number().int().min(100).max(600_000).default(5000),
        /** How often hints are delivered and quarantined blobs repaired. */
        hintIntervalMs: z.number().int().min(50).max(3_600_000).default(1000),
        /** A failed hint is retried after this long, doubling up to `hintMaxBackoffMs`. */
        hintBackoffMs: z.number().int().min(50).max(3_600_000).default(1000),
        hintMaxBackoffMs: z.number().int().min(50).max(86_400_000).default(60_000),
        /** How often the rings are compared with the last one acted on. */
        ringIntervalMs: z.number().int().min(50).max(3_600_000).default(2000),
        /** How often replicas compare range digests (0: never). */
        antiEntropyIntervalS: z.number().int().min(0).max(604_800).default(600),
      })
      .strict()
      .default({
        enabled: true,
        timeoutMs: 5000,
        hintIntervalMs: 1000,
        hintBackoffMs: 1000,
        hintMaxBackoffMs: 60_000,
        ringIntervalMs: 2000,
        antiEntropyIntervalS: 600,
      }),
    log: z
      .object({ level: z.enum(LOG_LEVELS).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.server.port !== 0 && c.server.port === c.ops.port && c.server.host === c.ops.host) {
      ctx.addIssue({ code: "custom", path: ["ops", "port"], message: `the same as server.port (${c.server.port})` });
    }
  });

export type FileConfig = z.infer<typeof configSchema>;

/** The configuration as the node uses it: paths resolved, amounts as bigint, the key's source named. */
export interface NodeConfig extends Omit<FileConfig, "node" | "log"> {
  node: Omit<FileConfig["node"], "key" | "capacity" | "rent" | "version"> & {
    key: { kind: "env"; name: string } | { kind: "keystore"; file: string; passwordEnv: string };
    capacity: bigint;
    rent: bigint;
    version: string;
  };
  logLevel: string;
}

/** A configuration the node refuses: every problem, one a line. */
export class ConfigError extends DdcError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid storage node configuration ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** The package's version (the node's default `version`). */
export function packageVersion(): string {
  for (const up of ["../..", "../../.."]) {
    try {
      return (JSON.parse(readFileSync(join(__dirname, up, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      // try the next place (sources, then dist/)
    }
  }
  return "0.0.0";
}

/** Reads, validates and resolves the configuration; throws a ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(file, [e.code === "ENOENT" ? "no such file" : `not JSON: ${e.message}`]);
  }
  return parseConfig(raw, file, env);
}

/** Validates a configuration already parsed from JSON (`file` names it in errors; relative paths are from its directory). */
export function parseConfig(raw: unknown, file: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw) && env.DDC_NODE_RPC) {
    const o = raw as Record<string, unknown>;
    if (typeof o.chain === "object" && o.chain !== null) (o.chain as Record<string, unknown>).rpcUrl = env.DDC_NODE_RPC;
  }
  const parsed = configSchema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : "(the file)"}: ${i.message}`);
  const logLevel = env.DDC_NODE_LOG_LEVEL;
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`DDC_NODE_LOG_LEVEL: one of ${LOG_LEVELS.join(", ")}`);
  }
  if (!parsed.success) throw new ConfigError(file, problems);
  const c = parsed.data;
  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const key: NodeConfig["node"]["key"] =
    "keystore" in c.node.key
      ? { kind: "keystore", file: path(c.node.key.keystore), passwordEnv: c.node.key.passwordEnv }
      : { kind: "env", name: c.node.key.env };
  if (key.kind === "env" && !env[key.name])
    problems.push(`node.key.env: the environment variable ${key.name} is not set`);
  if (key.kind === "keystore" && !env[key.passwordEnv]) {
    problems.push(
      `node.key.passwordEnv: the environment variable ${key.passwordEnv} (the keystore's password) is not set`,
    );
  }
  const capacity = BigInt(c.node.capacity);
  const rent = BigInt(c.node.rent);
  if (capacity >= 1n << 64n) problems.push("node.capacity: above 2^64 - 1");
  if (rent >= 1n << 96n) problems.push("node.rent: above 2^96 - 1");
  if (problems.length > 0) throw new ConfigError(file, problems);
  return {
    ...c,
    node: { ...c.node, key, capacity, rent, version: c.node.version ?? packageVersion() },
    data: { ...c.data, dir: path(c.data.dir) },
    logLevel: logLevel ?? c.log.level,
  };
}

/** The configuration without anything secret, for the start-up log line. */
export function describeConfig(c: NodeConfig): Record<string, unknown> {
  return {
    rpc: redactUrl(c.chain.rpcUrl),
    core: c.chain.core,
    node: { id: c.node.id, url: c.node.url, version: c.node.version, capacity: c.node.capacity.toString() },
    key: c.node.key.kind === "env" ? `env ${c.node.key.name}` : `keystore ${c.node.key.file}`,
    data: { dir: c.data.dir, blobs: c.data.blobs.kind, cache: c.data.cache },
    server: c.server,
    qos: c.qos,
    ops: c.ops,
  };
}
