import { randomInt } from "node:crypto";
import { setMaxListeners } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { JsonRpcProvider, MaxUint256, NonceManager, Wallet, type Signer } from "ethers";
import pino from "pino";
import { DAY, DEFAULT_CLUSTER_PARAMS, deployCore, deployTestStablecoin } from "../deploy/core";
import { ChainView } from "../storage-node/src/chain";
import { storageDomain } from "../storage-node/src/protocol";
import { freePort, startNode, type LocalNode } from "../test/helpers/localNode";
import { devAccount } from "../test/helpers/temp";
import { validatorConfigSchema } from "../validator/src/config";
import { measureEra, type Clock, type EraMeasurement } from "../validator/src/eraRun";
import { ValidatorMetrics } from "../validator/src/metrics";
import { ValidatorSessions } from "../validator/src/nodeApi";
import { startNodesProcess, type FastClockBase, type NodesProcess } from "./validatorNodes";
import { scaledClock } from "../test/helpers/fastChain";

/**
 * `npm run bench:validator`: one validator measuring a cluster of NODES storage nodes holding
 * OBJECTS objects each, through one era of the core's shortest length (600 s of the chain's time),
 * then that era's end work (usage records and era-end manifests of every node). The chain is anvil
 * on loopback with the core deployed by deploy/core.ts; the nodes are real HTTP servers on loopback,
 * all in one other process (bench/validatorNodesMain.ts), which also mines a block every 100 ms at
 * the fast clock's time: the chain's time runs SPEED times the wall clock, so the era passes in
 * 600 / SPEED s. This process runs the validator alone (`measureEra`, the default configuration),
 * and measures its CPU time, its peak RSS and heap (sampled every 100 ms), what it sent and what
 * failed, and the challenges' and probes' round trips. Writes reports/validator.json (rows
 * { name, value, unit, n }, as the other reports) and reports/validator.md.
 */
const ROOT = join(__dirname, "..");
const NODES = Number(process.env.DDC_BENCH_VALIDATOR_NODES ?? 64);
const OBJECTS = Number(process.env.DDC_BENCH_VALIDATOR_OBJECTS ?? 1000);
/** The core's shortest era (DDCConstants.MIN_ERA_LENGTH). */
const ERA_S = 600;
/** Chain seconds per wall second: the era of 600 s passes in 30 s. */
const SPEED = Number(process.env.DDC_BENCH_VALIDATOR_SPEED ?? 20);
/** How far before the measured era the fast clock starts (chain s): the nodes' start and the first blocks. */
const LEAD_S = 5 * SPEED;
const SAMPLE_MS = 100;
/** measureEra is called this long (chain ms) before the era's start. */
const START_EARLY_MS = 2_000;

const USD = 1_000_000n;
const GIB = 1n << 30n;

interface Row {
  name: string;
  value: number;
  unit: string;
  n: number;
}

const started = performance.now();
const log = (msg: string) =>
  console.log(`bench:validator: [${((performance.now() - started) / 1000).toFixed(0)} s] ${msg}`);
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const fmt = (x: number, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mib = (bytes: number) => bytes / 2 ** 20;

/** The nearest-rank percentile `p` (0–100) of `xs`. */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Whether a server can listen on 127.0.0.1:`port` now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * `count` free loopback ports below the system's ephemeral range: the nodes listen a minute after
 * their ports are registered, and a port from that range (`freePort`) may meanwhile be taken by
 * any outgoing connection, the nodes' own to the chain included.
 */
async function nodePorts(count: number): Promise<number[]> {
  let low = 32_768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the usual start of the range.
  }
  const ports: number[] = [];
  for (let p = 10_000 + randomInt(0, Math.max(1, low - 10_000 - 4 * count)); ports.length < count; p++) {
    if (p >= low) throw new Error(`bench: no ${count} free ports below ${low}`);
    if (await canListen(p)) ports.push(p);
  }
  return ports;
}

/** Waits for a transaction sent by a contract call. */
async function sent(tx: Promise<{ wait(): Promise<unknown> }>): Promise<void> {
  await (await tx).wait();
}

interface World {
  provider: JsonRpcProvider;
  chainId: number;
  core: string;
  cluster: number;
  bucket: bigint;
  validator: Wallet;
  nodes: { id: number; key: string; port: number }[];
}

/**
 * The core on `chain`, one provider's `count` nodes (each its own random signing key, its URL a
 * free loopback port) in one cluster of replication factor 1 and the shortest era, one validator
 * set on it, and one owner's bucket with a deposit.
 */
async function buildWorld(chain: LocalNode, count: number): Promise<World> {
  const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const chainId = Number((await provider.getNetwork()).chainId);
  const account = (i: number): Signer => new NonceManager(devAccount(i, provider));
  const [deployer, provider1, manager] = [account(0), account(1), account(2)];
  const owner = new NonceManager(devAccount(4, provider));
  const token = await deployTestStablecoin(deployer);
  const { ddc } = await deployCore(deployer, {
    token: await token.getAddress(),
    admin: await deployer.getAddress(),
    parameters: {
      networkFeeBps: 500,
      feeDestination: await deployer.getAddress(),
      unlockDelay: 7 * DAY,
      gracePeriod: 7 * DAY,
    },
  });
  const core = await ddc.getAddress();
  await sent(token.mint(await owner.getAddress(), 1_000_000n * USD));
  await sent(token.connect(owner).approve(core, MaxUint256));
  await sent(ddc.connect(provider1).nodeTrustManager(await manager.getAddress()));
  const cluster = Number((await ddc.clusterCount()) + 1n);
  await sent(
    ddc
      .connect(manager)
      .clusterCreate(
        await manager.getAddress(),
        { ...DEFAULT_CLUSTER_PARAMS, replicationFactor: 1, eraLength: ERA_S },
        GIB,
      ),
  );
  const nodes: World["nodes"] = [];
  // One vNode per node, evenly spaced on the ring: each node the replica of about 1/count of the keys.
  const step = (1n << 64n) / BigInt(count);
  const ports = await nodePorts(count);
  for (let i = 0; i < count; i++) {
    const key = Wallet.createRandom();
    const port = ports[i];
    const id = Number((await ddc.nodeCount()) + 1n);
    await sent(
      ddc.connect(provider1).nodeCreate(key.address, 1000n, 1n * USD, {
        engine: "ddc-storage",
        version: "1.0.0",
        urls: [`http://127.0.0.1:${port}`],
        metadata: `the validator bench's node ${i + 1}`,
      }),
    );
    await sent(ddc.connect(manager).clusterAddNode(cluster, id, [BigInt(i) * step + 12345n]));
    nodes.push({ id, key: key.privateKey, port });
  }
  await sent(ddc.connect(manager).clusterReserveResource(cluster, 100n));
  const validator = Wallet.createRandom();
  await sent(ddc.connect(manager).clusterSetValidator(cluster, validator.address, true));
  const bucket = (await ddc.bucketCount()) + 1n;
  await sent(ddc.connect(owner).bucketCreate(cluster, '{"engine":"ddc-storage"}'));
  await sent(ddc.connect(owner).accountDeposit(cluster, 1000n * USD));
  await sent(ddc.connect(owner).bucketAllocIntoCluster(bucket, 10n));
  return { provider, chainId, core, cluster, bucket, validator: new Wallet(validator.privateKey), nodes };
}

/** The chain's time as the nodes' process mines it: SPEED times the wall clock from `base`. */
function fastClock(base: FastClockBase): Clock & { wallAt(chainMs: number): number } {
  return {
    ...scaledClock(base),
    wallAt: (chainMs) => base.wallStart + (chainMs - base.chainStart) / base.speed,
  };
}

/** What one era's run measured in this process. */
interface Run {
  measured: EraMeasurement;
  era: { era: number; start: number; end: number };
  /** Wall ms: the whole call (the era and its end work), and the end work alone (the era's end to the return). */
  callMs: number;
  endMs: number;
  config: { probes: { perEra: number; timeoutMs: number }; challenges: { perNode: number; timeoutMs: number } };
  /** Late start: wall ms between the era's start and the call (0 when called before it). */
  lateMs: number;
  cpuMs: number;
  cpuEndMs: number;
  rssPeak: number;
  heapPeak: number;
  rssBefore: number;
  heapBefore: number;
  challengeMs: number[];
  /** How late this process's event loop ran during the call (ms): a round trip includes it. */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

async function runEra(world: World, clock: ReturnType<typeof fastClock>, signal: AbortSignal): Promise<Run> {
  const view = new ChainView({ provider: world.provider, core: world.core, ttlMs: 2_000 });
  await view.start();
  try {
    const now = await view.era(world.cluster, Math.floor(clock.now() / 1000));
    if (now === undefined) throw new Error(`cluster ${world.cluster} has no era`);
    // The first era that begins after now: measured from its start.
    const era = (await view.era(world.cluster, now.end))!;
    // Called a moment before the era's start: measureEra schedules its work from the start on.
    await clock.sleep(era.start * 1000 - START_EARLY_MS - clock.now(), signal);
    const defaults = validatorConfigSchema.parse({
      chain: { rpcUrl: "http://127.0.0.1:1", core: world.core },
      key: { env: "UNUSED" },
      dataDir: ".",
    });
    const challengeMs: number[] = [];
    const memory = { rss: 0, heap: 0 };
    const sample = () => {
      const m = process.memoryUsage();
      memory.rss = Math.max(memory.rss, m.rss);
      memory.heap = Math.max(memory.heap, m.heapUsed);
    };
    const before = process.memoryUsage();
    const sampler = setInterval(sample, SAMPLE_MS);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const wallEraStart = clock.wallAt(era.start * 1000);
    const wallEraEnd = clock.wallAt(era.end * 1000);
    let cpuAtEnd: NodeJS.CpuUsage | undefined;
    const atEnd = setTimeout(() => (cpuAtEnd = process.cpuUsage()), Math.max(0, wallEraEnd - Date.now()));
    const lateMs = Math.max(0, Date.now() - wallEraStart);
    const called = Date.now();
    const cpu0 = process.cpuUsage();
    let measured: EraMeasurement;
    try {
      measured = await measureEra({
        cluster: world.cluster,
        era: era.era,
        start: era.start,
        end: era.end,
        validator: world.validator.address,
        view,
        provider: world.provider,
        sessions: new ValidatorSessions(world.validator, storageDomain(world.chainId, world.core)),
        config: { probes: defaults.probes, challenges: defaults.challenges },
        clock,
        // Info: a member whose manifest could not be read at the set-up is named (it gets no challenges).
        logger: pino({ level: "info" }, pino.destination(2)),
        metrics: new ValidatorMetrics(),
        signal,
        onChallenge: (ms) => challengeMs.push(ms),
      });
    } finally {
      clearInterval(sampler);
      clearTimeout(atEnd);
      loop.disable();
    }
    const cpu = process.cpuUsage(cpu0);
    const returned = Date.now();
    sample();
    const total = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
    const cpuMs = total(cpu);
    return {
      measured,
      era,
      callMs: returned - called,
      config: { probes: defaults.probes, challenges: defaults.challenges },
      endMs: returned - wallEraEnd,
      lateMs,
      cpuMs,
      cpuEndMs: cpuAtEnd === undefined ? NaN : cpuMs - (total(cpuAtEnd) - total(cpu0)),
      rssPeak: memory.rss,
      heapPeak: memory.heap,
      rssBefore: before.rss,
      heapBefore: before.heapUsed,
      challengeMs,
      loopDelayMaxMs: loop.max / 1e6,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
    };
  } finally {
    view.stop();
  }
}

async function main(): Promise<void> {
  const load = loadavg()[0];
  const shm = "/dev/shm";
  const tmp = mkdtempSync(join(existsSync(shm) ? shm : tmpdir(), "ddc-bench-validator-"));
  const stopping = new AbortController();
  // Every task measureEra schedules waits on this one signal: thousands of listeners, none leaked.
  setMaxListeners(0, stopping.signal);
  let chain: LocalNode | undefined;
  let nodes: NodesProcess | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaned ??= (async () => {
      stopping.abort();
      await nodes?.stop().catch(() => undefined);
      await chain?.stop().catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    })());
  // Ctrl-C or a kill: the nodes' process, anvil and the temporary directory go too.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    log(`anvil, the core, ${NODES} nodes, a cluster of replication 1 and a bucket`);
    chain = await startNode("anvil", await freePort());
    const world = await buildWorld(chain, NODES);
    log(`the nodes' process: ${NODES} stores of ${OBJECTS} objects each (under ${tmp})`);
    nodes = await startNodesProcess();
    const filled = await nodes.fill({
      rpcUrl: chain.url,
      chainId: world.chainId,
      core: world.core,
      cluster: world.cluster,
      bucket: world.bucket.toString(),
      objectsPerNode: OBJECTS,
      dataDir: tmp,
      nodes: world.nodes,
    });
    log(`filled: ${fmt(filled.objects)} objects, ${fmt(mib(filled.bytes), 1)} MiB in ${fmt(filled.ms / 1000, 1)} s`);

    // The fast clock starts LEAD_S before the next era's start (after the chain's latest block).
    const latest = (await world.provider.getBlock("latest"))!.timestamp;
    const view = new ChainView({ provider: world.provider, core: world.core });
    const current = (await view.era(world.cluster, latest))!;
    const eraStart = current.end - LEAD_S > latest + 1 ? current.end : current.end + ERA_S;
    const base: FastClockBase = { wallStart: Date.now(), chainStart: (eraStart - LEAD_S) * 1000, speed: SPEED };
    const clock = fastClock(base);
    await nodes.listen(base);
    const nodesCpu0 = await nodes.usage();
    log(`the nodes listen; the chain runs ${SPEED} × the wall clock; era of ${ERA_S} s from ${eraStart}`);
    const run = await runEra(world, clock, stopping.signal);
    const nodesCpu1 = await nodes.usage();
    log(`era ${run.era.era} measured: ${fmt(run.cpuMs / 1000, 2)} s of CPU, end work ${fmt(run.endMs / 1000, 2)} s`);
    report(world, filled, run, {
      load,
      nodesCpuMs: nodesCpu1.cpuMs - nodesCpu0.cpuMs,
      nodesRss: nodesCpu1.rssBytes,
      nodesLoopMaxMs: nodesCpu1.loopDelayMaxMs,
      nodesLoopP99Ms: nodesCpu1.loopDelayP99Ms,
    });
  } finally {
    await cleanUp();
  }
}

function report(
  world: World,
  filled: { objects: number; bytes: number; large: number },
  run: Run,
  other: { load: number; nodesCpuMs: number; nodesRss: number; nodesLoopMaxMs: number; nodesLoopP99Ms: number },
): void {
  const m = run.measured;
  const probesSent = m.nodes.reduce((a, n) => a + n.probes.sent, 0);
  const probesFailed = m.nodes.reduce((a, n) => a + n.probes.failures.length, 0);
  const challengesSent = m.nodes.reduce((a, n) => a + n.challenges.sent, 0);
  const challengesFailed = m.nodes.reduce((a, n) => a + n.challenges.failures.filter((f) => f.counted).length, 0);
  const retried = m.nodes.reduce((a, n) => a + n.challenges.retried, 0);
  const probeMs = m.nodes.flatMap((n) => n.probes.latenciesMs);
  // When in the era the failed probes were sent (its share elapsed), and why.
  const eraLengthMs = (run.era.end - run.era.start) * 1000;
  const probeFailures = m.nodes
    .flatMap((n) => n.probes.failures.map((f) => ({ node: n.node, ...f })))
    .sort((a, b) => a.at - b.at);
  const eraWallS = (ERA_S * 1000) / SPEED / 1000;
  const cpuS = run.cpuMs / 1000;
  const endS = run.endMs / 1000;
  const rows: Row[] = [
    { name: "validator-era-cpu-s", value: round(cpuS, 2), unit: "s", n: 1 },
    { name: "validator-era-cpu-share", value: round(cpuS / (run.callMs / 1000), 3), unit: "core", n: 1 },
    { name: "validator-era-cpu-share-real-time", value: round(cpuS / ERA_S, 4), unit: "core", n: 1 },
    { name: "validator-end-of-era-cpu-s", value: round(run.cpuEndMs / 1000, 2), unit: "s", n: 1 },
    { name: "validator-rss-peak-mib", value: round(mib(run.rssPeak), 1), unit: "MiB", n: 1 },
    { name: "validator-heap-peak-mib", value: round(mib(run.heapPeak), 1), unit: "MiB", n: 1 },
    {
      name: "challenge-rtt-p50",
      value: round(percentile(run.challengeMs, 50), 2),
      unit: "ms",
      n: run.challengeMs.length,
    },
    {
      name: "challenge-rtt-p99",
      value: round(percentile(run.challengeMs, 99), 2),
      unit: "ms",
      n: run.challengeMs.length,
    },
    { name: "probe-rtt-p50", value: round(percentile(probeMs, 50), 2), unit: "ms", n: probeMs.length },
    { name: "probe-rtt-p99", value: round(percentile(probeMs, 99), 2), unit: "ms", n: probeMs.length },
    { name: "validator-loop-delay-p99", value: round(run.loopDelayP99Ms, 1), unit: "ms", n: 1 },
    { name: "validator-loop-delay-max", value: round(run.loopDelayMaxMs, 1), unit: "ms", n: 1 },
    { name: "nodes-loop-delay-p99", value: round(other.nodesLoopP99Ms, 1), unit: "ms", n: 1 },
    { name: "nodes-loop-delay-max", value: round(other.nodesLoopMaxMs, 1), unit: "ms", n: 1 },
    { name: "era-wall-s", value: round(run.callMs / 1000, 2), unit: "s", n: 1 },
    { name: "end-of-era-s", value: round(endS, 2), unit: "s", n: 1 },
    { name: "nodes", value: m.nodes.length, unit: "nodes", n: 1 },
    { name: "objects-per-node", value: filled.objects / world.nodes.length, unit: "objects", n: 1 },
    { name: "challenges-sent", value: challengesSent, unit: "challenges", n: 1 },
    { name: "challenges-failed", value: challengesFailed, unit: "challenges", n: 1 },
    { name: "probes-sent", value: probesSent, unit: "probes", n: 1 },
    { name: "probes-failed", value: probesFailed, unit: "probes", n: 1 },
  ];

  const problems: string[] = [];
  if (probesFailed > 0) problems.push(`${probesFailed} probes failed`);
  if (challengesFailed > 0) problems.push(`${challengesFailed} challenges failed`);
  const expected = m.nodes.length * run.config.challenges.perNode;
  if (challengesSent < expected) problems.push(`${challengesSent} challenges sent of ${expected}`);
  if (m.nodes.length !== world.nodes.length) problems.push(`${m.nodes.length} nodes measured of ${world.nodes.length}`);
  const below = m.nodes.filter((n) => n.score < 10_000);
  if (below.length > 0) {
    problems.push(
      `${below.length} nodes scored below full (node ${below[0].node}: ${below[0].reasons.join("; ") || "no reason"})`,
    );
  }
  const measuredBytes = m.buckets.reduce((a, b) => a + b.measuredBytes, 0n);
  if (measuredBytes !== BigInt(filled.bytes)) {
    problems.push(`the buckets measured ${measuredBytes} bytes, the nodes hold ${filled.bytes}`);
  }
  if (run.lateMs > 0) problems.push(`the validator began ${fmt(run.lateMs)} ms after the era's start`);
  if (endS >= eraWallS)
    problems.push(`the end of era work took ${fmt(endS, 1)} s, longer than the era (${eraWallS} s)`);
  const withinEra = problems.length === 0;

  const notes = [
    `The chain: anvil on loopback, the core deployed by deploy/core.ts; one provider's ${world.nodes.length} nodes ` +
      "(each its own random signing key, its URL a loopback port, one vNode each, evenly spaced on the ring) in one " +
      `cluster of replication factor 1 and the core's shortest era (${ERA_S} s); one validator set with ` +
      "`clusterSetValidator`; one bucket with a deposit. With replication 1 each object lives on one node: each node " +
      `holds its own ${fmt(filled.objects / world.nodes.length)} objects (the keys the ring places on it).`,
    `The objects: ${fmt(filled.objects)} in all, ${fmt(mib(filled.bytes), 1)} MiB, 1–8 KiB each but one in 50 ` +
      `between 64 and 160 KiB (${fmt(filled.large)} of them, two or three Merkle leaves: some challenges pick a ` +
      "leaf other than the first), random bytes, written straight into each node's ObjectStore (`objects.put`, no " +
      "HTTP), the blobs under /dev/shm when it exists.",
    `The nodes: all ${world.nodes.length} in one other Node process (bench/validatorNodesMain.ts), each a ` +
      "`buildNodeServer` on its own loopback port with its own store (filesystem blobs, in-memory SQLite), " +
      "authenticator and signing key; they share one ChainView of the core. They answer probes, manifests, " +
      "challenges and usage records as any node, their eras on the chain's time, and snapshot each era's end " +
      "from their metering. That process also mines a block every 100 ms at the fast clock's time " +
      `(\`evm_mine\`). Its CPU over the era and its end work: ${fmt(other.nodesCpuMs / 1000, 2)} s; its RSS at ` +
      `the end: ${fmt(mib(other.nodesRss), 0)} MiB.`,
    `SPEED = ${SPEED}: the chain's time runs ${SPEED} × the wall clock, so the era of ${ERA_S} s passes in ` +
      `${eraWallS} s of wall time, and its probes and challenges (the same number as in a real era) are sent ` +
      `${SPEED} times as densely. \`validator-era-cpu-share\` is the CPU over the wall time of the run (the era at ` +
      `SPEED and its end work); \`validator-era-cpu-share-real-time\` is the same CPU over a real era of ${ERA_S} s. ` +
      "The end work (usage records and era-end manifests) is not slowed by the clock: its seconds are real ones.",
    `The validator: this process (under \`hardhat run\`: its baseline RSS before the era was ` +
      `${fmt(mib(run.rssBefore), 0)} MiB, heap ${fmt(mib(run.heapBefore), 0)} MiB), \`measureEra\` for era ` +
      `${run.era.era} from its start, the default configuration (${run.config.probes.perEra} probes per node, ` +
      `${run.config.challenges.perNode} challenges per node, timeouts ${run.config.probes.timeoutMs} and ` +
      `${run.config.challenges.timeoutMs} ms), then the era's end work on the same call. CPU is ` +
      "`process.cpuUsage()` (user + system) over the call; RSS and heap are `process.memoryUsage()` sampled " +
      `every ${SAMPLE_MS} ms, the peak. \`validator-end-of-era-cpu-s\` is the CPU from the era's end on the fast ` +
      "clock to the return.",
    `Round trips: each challenge that passed, timed by the validator (\`onChallenge\`: from the request to its ` +
      "answer read, before the checks), and each probe's (NodeDetail's `latenciesMs`), over loopback to nodes " +
      `that share one process; percentiles by nearest rank. Challenges retried after a timeout: ${retried}.`,
    ...(probeFailures.length === 0
      ? []
      : [
          "The probes that failed, when in the era they were sent (the share of the era elapsed): " +
            probeFailures
              .slice(0, 12)
              .map(
                (f) => `${fmt((100 * (f.at - run.era.start * 1000)) / eraLengthMs, 1)} % (node ${f.node}: ${f.what})`,
              )
              .join("; ") +
            (probeFailures.length > 12 ? `; and ${probeFailures.length - 12} more` : "") +
            ". The validator's challenge set-up (every member's manifest read and checked, the candidates " +
            "drawn) runs at 5 % of the era.",
        ]),
    `Event loops: \`validator-loop-delay-*\` is how late this process's event loop ran during the call, ` +
      "`nodes-loop-delay-*` the nodes' process's from the clock's start (`monitorEventLoopDelay`, 10 ms " +
      "resolution): a round trip includes the delay of either side's loop.",
    `Within the era: ${withinEra ? "yes" : "**no**"}. The validator began before the era's start; ` +
      `${probesFailed} probes and ${challengesFailed} challenges failed; ${below.length} of ${m.nodes.length} ` +
      `nodes scored below full; the end work took ${fmt(endS, 2)} s (${fmt(endS * SPEED, 0)} s of the chain's ` +
      `time at this SPEED, ${fmt((100 * endS) / ERA_S, 2)} % of a real era). The buckets' measured bytes: ` +
      `${measuredBytes} (the nodes hold ${filled.bytes}).`,
    `The machine: ${cpus().length} cores shared by the validator, the nodes' process and anvil (and other ` +
      `work), load average ${fmt(other.load, 1)} when the run began.`,
  ];
  if (problems.length > 0) notes.push(`**Problems**: ${problems.join("; ")}.`);

  const digits = (r: Row) => (r.unit === "core" ? 3 : r.unit === "s" || r.unit === "ms" || r.unit === "MiB" ? 2 : 0);
  const dir = join(ROOT, "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "validator.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# One validator under load",
    "",
    `Measured by \`npm run bench:validator\` (Node ${process.version}): one validator measuring ` +
      `${world.nodes.length} nodes of ${fmt(filled.objects / world.nodes.length)} objects each through one era ` +
      `of ${ERA_S} s of the chain's time (at ${SPEED} × the wall clock), then the era's end work.`,
    "",
    "| name | value | unit | n |",
    "|---|---:|---|---:|",
    ...rows.map((r) => `| ${r.name} | ${fmt(r.value, digits(r))} | ${r.unit} | ${r.n} |`),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "validator.md"), md);
  console.log("");
  for (const r of rows) console.log(`${r.name.padEnd(36)} ${fmt(r.value, digits(r)).padStart(10)}  ${r.unit}`);
  console.log("");
  console.log("Written: reports/validator.json, reports/validator.md");
  if (problems.length > 0) {
    console.log(`Problems: ${problems.join("; ")}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
