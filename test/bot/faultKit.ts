import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { JsonRpcProvider, Wallet, ZeroAddress, type HDNodeWallet } from "ethers";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { parseActionKey } from "../../governance/actions";
import { DirectorySignatureStore, SafeQueue, signSafeTx, type SafeTxData } from "../../governance/safeStore";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { BotStore } from "../../manager-bot/src/store";
import { DDCGovernor__factory, IDDC__factory, type DDCGovernor, type IDDC } from "../../typechain-types";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { reportBody as healthyReport } from "../helpers/reports";
import { devAccount } from "../helpers/temp";

/**
 * What the bot's fault tests share: a `npx hardhat node` with the demo world, the bot as a child
 * process (`node bin/ddc bot run`), a TCP proxy that can cut the bot off the node, validators'
 * report files, and counters of what reached the chain and the Safe store, by action key.
 */

const ROOT = join(__dirname, "..", "..");
const BIN = join(ROOT, "node_modules", ".bin");

// ───────────────────────────────────────── the node ─────────────────────────────────────────

/** One JSON-RPC call; throws the node's error. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

/** Moves the node's clock forward and mines a block at the new time. */
export async function travel(url: string, seconds: number): Promise<void> {
  await rpc(url, "evm_increaseTime", [seconds]);
  await rpc(url, "evm_mine");
}

export interface World {
  node: LocalNode;
  url: string;
  /** Where the deployment record (localhost.json) is. */
  dir: string;
  recordFile: string;
  record: DeploymentRecord;
  provider: JsonRpcProvider;
  chainId: number;
  core: string;
  ddc: IDDC;
  governor: DDCGovernor;
  /** The operations Safe that manages cluster 2. */
  safe: string;
  /** Development account `i` connected to the node (the demo world's parties). */
  account(i: number): HDNodeWallet;
}

/** `npx hardhat node` on a free loopback port with the whole system and the demo world deployed. */
export async function startWorld(dir: string): Promise<World> {
  const node = await startNode("hardhat", await freePort());
  await new Promise<void>((resolve, reject) => {
    const child = spawn(join(BIN, "hardhat"), ["deploy", "--network", "localhost", "--demo"], {
      cwd: ROOT,
      env: {
        ...process.env,
        DDC_LOCAL_RPC: node.url,
        DDC_DEPLOYMENTS_DIR: dir,
        HARDHAT_DISABLE_TELEMETRY_PROMPT: "true",
      },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`deploy exited with ${code}:\n${out}`))));
  });
  const recordFile = join(dir, "localhost.json");
  const record = readRecord(recordFile);
  if (record === undefined) throw new Error(`no deployment record in ${dir}`);
  const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
  return {
    node,
    url: node.url,
    dir,
    recordFile,
    record,
    provider,
    chainId: record.chainId,
    core: record.contracts.DDCCore,
    ddc: IDDC__factory.connect(record.contracts.DDCCore, provider),
    governor: DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider),
    safe: record.contracts.DemoOperationsSafe,
    account: (i) => devAccount(i, provider),
  };
}

/** The last closed era of `cluster` on the chain. */
export async function lastClosedEra(world: World, cluster: number): Promise<number> {
  return Number((await world.ddc.clusterEra(cluster)).era) - 1;
}

/**
 * A Safe transaction of one call, signed by two owners and executed by the first (the Safe is 2 of
 * 4), through its own signature store so that the bot's never sees it.
 */
export async function bySafe(world: World, store: string, to: string, data: string): Promise<void> {
  const queue = new SafeQueue(world.provider, world.chainId, world.safe, new DirectorySignatureStore(store));
  const tx: SafeTxData = {
    to,
    value: "0",
    data,
    operation: 0,
    safeTxGas: "0",
    baseGas: "0",
    gasPrice: "0",
    gasToken: ZeroAddress,
    refundReceiver: ZeroAddress,
    nonce: await queue.nextNonce(),
  };
  const stored = await queue.propose(tx, undefined, world.account(1));
  for (const owner of [world.account(2)]) {
    await queue.addSignature(stored.safeTxHash, owner.address, await signSafeTx(owner, world.chainId, world.safe, tx));
  }
  await queue.executeWith(world.account(1), stored.safeTxHash);
}

// ─────────────────────────────────────── a cut-off RPC ───────────────────────────────────────

/**
 * A TCP proxy between the bot and the node: `cut()` closes it (the listening socket and every
 * connection: the node is unreachable), `restore()` listens again on the same port. `cutOn(text)`
 * cuts it when a request carrying `text` comes through (that request is not forwarded).
 */
export class RpcProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private trigger: string | undefined;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  async open(): Promise<void> {
    if (this.server !== undefined) return;
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on("data", (chunk: Buffer) => {
        if (this.trigger !== undefined && chunk.includes(this.trigger)) {
          this.trigger = undefined;
          void this.cut();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on("data", (chunk: Buffer) => client.write(chunk));
      client.on("end", () => upstream.end());
      upstream.on("end", () => client.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address === "object" && address !== null) this.port = address.port;
    this.server = server;
  }

  /** The node goes away: nothing listens on the port, every open connection is reset. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.trigger = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Cut as soon as a request carrying `text` (e.g. a JSON-RPC method) comes through. */
  cutOn(text: string): void {
    this.trigger = text;
  }

  restore(): Promise<void> {
    return this.open();
  }
}

// ──────────────────────────────────────── the bot ────────────────────────────────────────

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** The bot as a child process: its output as it comes, its JSON log lines parsed. */
export class BotProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly listeners = new Set<() => void>();

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [join(ROOT, "bin", "ddc"), ...args], { cwd: ROOT, env });
    this.child.stdout.on("data", (d: Buffer) => {
      this.stdout += d.toString();
      for (const l of this.listeners) l();
    });
    this.child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  /** The JSON lines of stdout (the pino log). */
  get lines(): LogLine[] {
    return parseLines(this.stdout);
  }

  /** Resolves with the first log line, from the `from`-th on, that `match` accepts. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs: number, from = 0): Promise<{ line: LogLine; index: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const lines = this.lines;
        for (let i = from; i < lines.length; i++) {
          if (match(lines[i])) {
            done();
            resolve({ line: lines[i], index: i });
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such log line within ${timeoutMs} ms; the log:\n${this.stdout}\n${this.stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      void this.exited.then(() => {
        if (!this.listeners.has(check)) return;
        done();
        reject(new Error(`the bot exited; its log:\n${this.stdout}\n${this.stderr}`));
      });
      check();
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

export function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
  }
  return out;
}

export interface BotRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: LogLine[];
  /** The alert lines' kinds. */
  alerts: LogLine[];
}

/** `ddc <args>` to its end. */
export async function ddc(args: string[], env: NodeJS.ProcessEnv): Promise<BotRun> {
  const p = new BotProcess(args, env);
  const { code, signal } = await p.exited;
  const lines = p.lines;
  return {
    code,
    signal,
    stdout: p.stdout,
    stderr: p.stderr,
    lines,
    alerts: lines.filter((l) => typeof l.alert === "string" && String(l.msg).startsWith("ALERT")),
  };
}

/** What one run of the bot is given: its configuration file and its environment. */
export interface BotSetup {
  config: string;
  env: NodeJS.ProcessEnv;
}

/** One `ddc bot run --once`, optionally with a crash point armed. */
export function runOnce(bot: BotSetup, failpoint?: string): Promise<BotRun> {
  const env = { ...bot.env };
  delete env.DDC_BOT_FAILPOINT;
  if (failpoint !== undefined) env.DDC_BOT_FAILPOINT = failpoint;
  return ddc(["bot", "run", "--config", bot.config, "--once"], env);
}

/** A human-readable summary of a run for assertion messages. */
export function explainRun(r: BotRun): string {
  const lines = r.lines.map((l) => `${l.msg ?? ""}`).join("\n  ");
  return `exit ${r.code} signal ${r.signal}\n  ${lines}\nstderr: ${r.stderr}`;
}

export interface ClusterEntry {
  id: number;
  manager: { kind: "governor" } | { kind: "safe"; safe: string; store: string };
  policy?: { failingEras: number; maxPerEra: number };
  missed?: { mode: "catch-up" | "skip"; waitEras: number };
  settlement?: { minimum: string } | null;
}

/** Writes a bot configuration file (JSON) and returns its path. */
export function writeConfig(
  file: string,
  c: {
    rpc: string;
    deployment: string;
    store: string;
    intake: string;
    clusters: ClusterEntry[];
    http?: number;
    schedule?: string;
    receiptTimeoutSeconds?: number;
  },
): string {
  const config = {
    rpc: c.rpc,
    deployment: c.deployment,
    key: { env: "DDC_BOT_KEY" },
    store: c.store,
    schedule: c.schedule ?? "*/2 * * * * *",
    http: { host: "127.0.0.1", port: c.http ?? 0 },
    intake: { port: null, directory: c.intake },
    clusters: c.clusters.map((cl) => ({
      policy: { failingEras: 1, maxPerEra: 1 },
      missed: { mode: "catch-up", waitEras: 2 },
      settlement: null,
      ...cl,
    })),
    tx: { receiptTimeoutSeconds: c.receiptTimeoutSeconds ?? 5 },
    alerts: { minBalance: "0.1", stuckAfterMinutes: 24 * 60 },
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Reads the bot's store (no bot process may hold it open for writing meanwhile). */
export function withStore<T>(file: string, read: (store: BotStore) => T): T {
  const store = new BotStore(file);
  try {
    return read(store);
  } finally {
    store.close();
  }
}

/** Deletes the bot's SQLite store: the database and its WAL and shared-memory files. */
export function deleteStore(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

// ─────────────────────────────────────── reports ───────────────────────────────────────

export interface NodeOutcome {
  /** Nodes whose retrievability proof failed (score 0). */
  failing?: bigint[];
  /** Buckets measured, with the bytes measured. */
  buckets?: { bucket: bigint; bytes: bigint }[];
  /** The score of a healthy node (default 9,700; the demo clusters' threshold is 9,000). */
  score?: number;
}

/** A report body for `members` of `cluster` in `era`. */
export function reportBody(cluster: number, era: number, members: bigint[], o: NodeOutcome = {}): ReportBody {
  const failing = new Set((o.failing ?? []).map(Number));
  return healthyReport(
    cluster,
    era,
    [...members].map(Number).sort((a, b) => a - b),
    (node) =>
      failing.has(node)
        ? { availabilityBps: 2_000, latencyMs: 25, retrievable: false, score: 0 }
        : { latencyMs: 25, score: o.score ?? 9_700 },
    (o.buckets ?? [])
      .map((b) => ({ bucket: Number(b.bucket), measuredBytes: b.bytes.toString() }))
      .sort((a, b) => a.bucket - b.bucket),
  );
}

/** A validator's signed report, written as one file in the intake directory; returns the file name. */
export async function deliver(
  world: World,
  intake: string,
  validator: Wallet | HDNodeWallet,
  body: ReportBody,
  tag = "",
): Promise<string> {
  const signed = await signReport(validator, world.chainId, world.core, body);
  const name = `c${body.cluster}-e${body.era}-${validator.address.slice(2, 10).toLowerCase()}${tag}.json`;
  writeFileSync(join(intake, name), JSON.stringify(signed, null, 2));
  return name;
}

/** Where a delivered report file is now: waiting in the intake directory, accepted, or rejected (with why). */
export function fileState(intake: string, name: string): "waiting" | "accepted" | { rejected: string } | "gone" {
  if (existsSync(join(intake, name))) return "waiting";
  if (existsSync(join(intake, "accepted", name))) return "accepted";
  if (existsSync(join(intake, "rejected", name)))
    return { rejected: readFileSync(join(intake, "rejected", `${name}.reason`), "utf8").trim() };
  return "gone";
}

/** The rejected report files (with their reasons). */
export function rejectedFiles(intake: string): string[] {
  const dir = join(intake, "rejected");
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
}

// ───────────────────────────────────── what happened ─────────────────────────────────────

const keyOf = (cluster: bigint | number, era: bigint | number | null, kind?: string) =>
  `${cluster}/${era ?? "-"}${kind === undefined ? "" : `/${kind}`}`;

/** Counts by key (`cluster/era` or `cluster/era/kind`). */
export type Counts = Record<string, number>;

function count(keys: string[]): Counts {
  const out: Counts = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** What reached the chain: usage reports and distributions per (cluster, era), proposals per action key. */
export async function onChain(world: World): Promise<{
  usage: Counts;
  distributions: Counts;
  proposals: Counts;
  queued: Counts;
  executed: Counts;
}> {
  const { ddc: core, governor } = world;
  const usage = await core.queryFilter(core.filters.UsageReported(), 0);
  const distributions = await core.queryFilter(core.filters.RevenuesDistributed(), 0);
  const created = await governor.queryFilter(governor.filters.ProposalCreated(), 0);
  const keyById = new Map<bigint, string>();
  for (const p of created) {
    const k = parseActionKey(p.args.description);
    if (k !== undefined) keyById.set(p.args.proposalId, keyOf(k.cluster, k.era, k.kind));
  }
  const byKey = async (events: { args: { proposalId: bigint } }[]) =>
    count(events.map((e) => keyById.get(e.args.proposalId)).filter((k): k is string => k !== undefined));
  return {
    usage: count(usage.map((e) => keyOf(e.args.cluster, e.args.era))),
    distributions: count(distributions.map((e) => keyOf(e.args.cluster, e.args.era))),
    proposals: count([...keyById.values()]),
    queued: await byKey(await governor.queryFilter(governor.filters.ProposalQueued(), 0)),
    executed: await byKey(await governor.queryFilter(governor.filters.ProposalExecuted(), 0)),
  };
}

/** The Safe transactions in a signature store, per action key. */
export async function safeTransactions(store: string, safe: string): Promise<Counts> {
  const keys: string[] = [];
  for (const t of await new DirectorySignatureStore(store).list(safe)) {
    const k = t.description === undefined ? undefined : parseActionKey(t.description);
    if (k !== undefined) keys.push(keyOf(k.cluster, k.era, k.kind));
  }
  return count(keys);
}

/** The keys counted more than once. */
export function twice(counts: Counts): string[] {
  return Object.entries(counts)
    .filter(([, n]) => n > 1)
    .map(([k, n]) => `${k} ×${n}`);
}
