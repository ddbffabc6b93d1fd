import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { getAddress } from "ethers";
import { z } from "zod";
import { DEFAULT_CLUSTER_PARAMS as D } from "../../deploy/core";
import * as build from "../../governance/actions";
import { canonicalJson, hashOfJson, ready } from "../../manager-bot/src/evidence";
import { formatDuration, tokenJson } from "../../lib/format";
import { parseAddress, parseHash, parseId, parseIds, parseUint, type Context } from "../context";
import { CliError } from "../errors";
import { coreEvents, print, send } from "../output";
import { carryOut, describeManager, managerKind, type Via } from "../managers";
import { STORE_HELP } from "../safeSupport";
import type { Runner } from "../main";

const viaOptions = (cmd: Command) =>
  cmd
    .option("--propose", "propose it to the DAO (the default when the manager is the DAO's Timelock)")
    .option(
      "--safe <address>",
      "put it in that Safe's signature store, signed by the key (the default when the manager is a Safe)",
    )
    .option("--store <where>", STORE_HELP);

/** Option values as commander passes them. */
type Options = Via & Record<string, string | boolean | undefined>;

/**
 * A manager action as a command: its arguments and options, and how it is built. Each is a
 * `ddc cluster` command (carried out the way the manager acts) and a `ddc gov propose` command
 * (always a proposal), from the same builder of governance/actions.ts.
 */
export interface ActionSpec {
  /** The command with its arguments: `add-node <cluster> <node>`. */
  name: string;
  description: string;
  options?: (cmd: Command) => Command;
  /** Only a proposal can do it (the DAO's own powers): no `ddc cluster` command. */
  daoOnly?: boolean;
  build(ctx: Context, args: string[], o: Options): Promise<build.ManagerAction>;
}

const core = (ctx: Context) => ctx.ddc.target as string;
const str = (o: Options, name: string) => o[name] as string;

/** The evidence document the bot writes, as far as the routine actions need it. */
const evidenceDocument = z.object({
  chainId: z.number().int().positive(),
  core: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  cluster: z.number().int().min(1),
  era: z.number().int().min(0),
  actions: z.array(
    z.union([
      z.object({
        kind: z.literal("usage-report"),
        buckets: z.array(z.number().int().min(1)),
        measuredUnits: z.array(z.string().regex(/^\d{1,20}$/)),
      }),
      z.object({ kind: z.literal("distribution"), ineligible: z.array(z.number().int().min(1)) }),
      z.object({ kind: z.literal("replace-node"), node: z.number().int(), replacements: z.array(z.number().int()) }),
    ]),
  ),
});

/**
 * The action of `kind` an evidence document (as the bot writes it) decides for `cluster`/`era`,
 * carrying the document's hash. The document must be for this chain and core, this cluster and
 * era, hash to `--hash` when given, and be the exact canonical text its hash is of.
 */
async function fromEvidence(
  ctx: Context,
  kind: "usage-report" | "distribution",
  args: string[],
  o: Options,
): Promise<build.ManagerAction> {
  const cluster = parseId("cluster", args[0]);
  const era = parseUint("era", args[1]);
  const file = str(o, "evidence");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new CliError(`no evidence file at ${file}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CliError(`the evidence ${file} is not JSON: ${(error as Error).message}`);
  }
  const parsed = evidenceDocument.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new CliError(
      `the evidence ${file} is not an evidence document: ${first.path.join(".") || "(root)"}: ${first.message}`,
    );
  }
  const doc = parsed.data;
  await ready();
  const hash = hashOfJson(text.replace(/\s+$/, ""));
  const canonical = hashOfJson(canonicalJson(raw));
  if (hash !== canonical) {
    throw new CliError(
      `the evidence ${file} is not the canonical document its hash is of (its bytes hash to ${hash}, the document to ${canonical})`,
      "use the file as the bot wrote it (it is not reformatted nor edited)",
    );
  }
  if (typeof o.hash === "string" && parseHash("--hash", o.hash) !== hash) {
    throw new CliError(`the evidence ${file} hashes to ${hash}, not to ${parseHash("--hash", o.hash)}`);
  }
  if (doc.chainId !== ctx.record.chainId || getAddress(doc.core) !== getAddress(core(ctx))) {
    throw new CliError(
      `the evidence ${file} is for chain ${doc.chainId}, core ${getAddress(doc.core)}; this deployment is chain ${ctx.record.chainId}, core ${getAddress(core(ctx))}`,
    );
  }
  if (BigInt(doc.cluster) !== cluster || BigInt(doc.era) !== era) {
    throw new CliError(
      `the evidence ${file} decides cluster ${doc.cluster} era ${doc.era}, not cluster ${cluster} era ${era}`,
    );
  }
  const planned = doc.actions.find((a) => a.kind === kind);
  if (planned === undefined) {
    throw new CliError(
      `the evidence ${file} decides no ${kind === "usage-report" ? "usage report" : "distribution"} for cluster ${cluster} era ${era}`,
      kind === "usage-report" ? "no bucket's usage was measured by a quorum: there is nothing to report" : undefined,
    );
  }
  if (planned.kind === "usage-report") {
    return build.usageReport(core(ctx), {
      cluster,
      era,
      buckets: planned.buckets.map(BigInt),
      measuredUnits: planned.measuredUnits.map(BigInt),
      evidenceHash: hash,
    });
  }
  if (planned.kind !== "distribution") throw new CliError(`unexpected action ${planned.kind}`);
  return build.distribution(core(ctx), {
    cluster,
    era,
    ineligible: planned.ineligible.map(BigInt),
    evidenceHash: hash,
  });
}

const evidenceOptions = (cmd: Command) =>
  cmd
    .requiredOption("--evidence <file>", "the evidence document, as the bot wrote it (canonical JSON)")
    .option("--hash <keccak256>", "the hash the document must have (as the bot logged or published it)");

const members = (kind: "operators" | "validators"): ActionSpec => ({
  name: `${kind} <cluster>`,
  description: `add or remove ${kind}; without --add/--remove, list them`,
  options: (cmd) =>
    cmd.option("--add <addresses>", "comma-separated").option("--remove <addresses>", "comma-separated"),
  build: async (ctx, [c], o) => {
    const list = (raw: unknown) =>
      typeof raw !== "string" ? [] : raw.split(",").map((a) => parseAddress(kind, a.trim()));
    if (o.add === undefined && o.remove === undefined) throw new CliError("give --add or --remove (or both)");
    const builder = kind === "operators" ? build.operators : build.validators;
    return builder(core(ctx), { cluster: parseId("cluster", c), add: list(o.add), remove: list(o.remove) });
  },
});

/** Every manager action ddc can carry out or propose. */
export const ACTIONS: ActionSpec[] = [
  {
    name: "add-node <cluster> <node>",
    description: "add a node with vNodes at --tokens",
    options: (cmd) => cmd.requiredOption("--tokens <t1,t2,...>", "ring tokens (uint64) of the node's vNodes"),
    build: async (ctx, [c, n], o) =>
      build.addNode(core(ctx), {
        cluster: parseId("cluster", c),
        node: parseId("node", n),
        tokens: str(o, "tokens")
          .split(",")
          .map((t) => parseUint("token", t.trim())),
      }),
  },
  {
    name: "replace-node <cluster> <node>",
    description: "hand every vNode of a node to replacements (one per vNode, in token order)",
    options: (cmd) =>
      cmd
        .requiredOption("--to <n1,n2,...>", "the replacement of each vNode")
        .requiredOption("--evidence <hash>", "the evidence document's keccak256")
        .option("--era <n>", "the era the decision is about (in the action key)"),
    build: async (ctx, [c, n], o) =>
      build.replaceNode(core(ctx), {
        cluster: parseId("cluster", c),
        node: parseId("node", n),
        replacements: parseIds("replacement", str(o, "to")),
        evidenceHash: parseHash("--evidence", str(o, "evidence")),
        ...(o.era !== undefined ? { era: parseUint("--era", str(o, "era")) } : {}),
      }),
  },
  {
    name: "reserve <cluster> <unitsPerVNode>",
    description: "units reserved on every vNode",
    build: async (ctx, [c, u]) =>
      build.reservation(core(ctx), { cluster: parseId("cluster", c), unitsPerVNode: parseUint("units", u) }),
  },
  {
    name: "params <cluster>",
    description: "change the cluster's parameters (unspecified ones keep their value)",
    options: (cmd) =>
      cmd
        .option("--replication <n>")
        .option("--era-length <seconds>")
        .option("--qos-threshold <bps>")
        .option("--management-fee <bps>")
        .option("--price-notice <seconds>"),
    build: async (ctx, [c], o) => {
      const id = parseId("cluster", c);
      const p = (await ctx.ddc.getCluster(id)).params;
      const pick = (name: string, current: bigint) =>
        o[name] !== undefined ? Number(parseUint(`--${name}`, str(o, name))) : Number(current);
      const params = {
        replicationFactor: pick("replication", p.replicationFactor),
        eraLength: pick("eraLength", p.eraLength),
        qosThreshold: pick("qosThreshold", p.qosThreshold),
        managementFeeBps: pick("managementFee", p.managementFeeBps),
        priceNotice: pick("priceNotice", p.priceNotice),
      };
      return build.clusterParameters(core(ctx), { cluster: id, params });
    },
  },
  members("operators"),
  members("validators"),
  {
    name: "handover <cluster>",
    description: "propose a new manager (--to), or accept as the pending one (--accept)",
    options: (cmd) =>
      cmd.option("--to <address>", "the new manager").option("--accept", "accept the cluster (as its pending manager)"),
    build: async (ctx, [c], o) => {
      const id = parseId("cluster", c);
      if ((o.to === undefined) === (o.accept !== true)) throw new CliError("give either --to <address> or --accept");
      return o.accept === true
        ? build.handover(core(ctx), { cluster: id, step: "accept" })
        : build.handover(core(ctx), { cluster: id, step: "propose", newManager: parseAddress("--to", str(o, "to")) });
    },
  },
  {
    name: "report-usage <cluster> <era>",
    description: "report the era's measured usage from an evidence document (the manager or an operator)",
    options: evidenceOptions,
    build: (ctx, args, o) => fromEvidence(ctx, "usage-report", args, o),
  },
  {
    name: "distribute <cluster> <era>",
    description: "distribute the era's revenue from an evidence document (the manager or an operator)",
    options: evidenceOptions,
    build: (ctx, args, o) => fromEvidence(ctx, "distribution", args, o),
  },
  {
    name: "global-params",
    description:
      "the core's global parameters (the DAO's only): network fee, fee destination, unlock delay, grace period",
    daoOnly: true,
    options: (cmd) =>
      cmd
        .option("--network-fee <bps>")
        .option("--fee-destination <address>")
        .option("--unlock-delay <seconds>")
        .option("--grace-period <seconds>"),
    build: async (ctx, _args, o) => {
      const changes: build.GlobalParameterChange[] = [];
      if (o.networkFee !== undefined)
        changes.push({ name: "networkFeeBps", value: parseUint("--network-fee", str(o, "networkFee")) });
      if (o.feeDestination !== undefined)
        changes.push({ name: "feeDestination", value: parseAddress("--fee-destination", str(o, "feeDestination")) });
      if (o.unlockDelay !== undefined)
        changes.push({ name: "unlockDelay", value: parseUint("--unlock-delay", str(o, "unlockDelay")) });
      if (o.gracePeriod !== undefined)
        changes.push({ name: "gracePeriod", value: parseUint("--grace-period", str(o, "gracePeriod")) });
      if (changes.length === 0)
        throw new CliError(
          "nothing to change: give at least one of --network-fee, --fee-destination, --unlock-delay, --grace-period",
        );
      return build.globalParameters(core(ctx), changes);
    },
  },
];

/** Managers: clusters. */
export function registerManager(program: Command, run: Runner): void {
  const cluster = program.command("cluster").description("a manager's clusters");

  cluster
    .command("create")
    .description("create a cluster (its manager: --manager, default the key's account)")
    .option("--manager <address>", "the manager (an EOA, a Safe, the Timelock)")
    .option("--replication <n>", "replication factor", String(D.replicationFactor))
    .option("--era-length <seconds>", "era length", String(D.eraLength))
    .option("--qos-threshold <bps>", "QoS score a node needs to be eligible", String(D.qosThreshold))
    .option("--management-fee <bps>", "management fee", String(D.managementFeeBps))
    .option("--price-notice <seconds>", "notice of a price increase", String(D.priceNotice))
    .option("--unit-size <bytes>", "bytes per unit (fixed forever)", String(2 ** 30))
    .action(
      run(async (ctx, o: Record<string, string>) => {
        const signer = await ctx.signer();
        const manager = o.manager !== undefined ? parseAddress("--manager", o.manager) : await signer.getAddress();
        const params = {
          replicationFactor: Number(parseUint("--replication", o.replication)),
          eraLength: Number(parseUint("--era-length", o.eraLength)),
          qosThreshold: Number(parseUint("--qos-threshold", o.qosThreshold)),
          managementFeeBps: Number(parseUint("--management-fee", o.managementFee)),
          priceNotice: Number(parseUint("--price-notice", o.priceNotice)),
        };
        const receipt = await send(ctx, "cluster create", () =>
          ctx.ddc.connect(signer).clusterCreate(manager, params, parseUint("--unit-size", o.unitSize)),
        );
        const id = coreEvents(ctx, receipt).find((e) => e.name === "ClusterCreated")?.args.cluster as bigint;
        print(ctx, { cluster: id, manager }, `cluster ${id} created, managed by ${manager}`);
      }),
    );

  for (const spec of ACTIONS.filter((a) => a.daoOnly !== true)) {
    const cmd = viaOptions(
      (spec.options ?? ((c: Command) => c))(cluster.command(spec.name).description(spec.description)),
    );
    cmd.action(
      run(async (ctx, ...rest: unknown[]) => {
        const o = rest.at(-1) as Options;
        const args = rest.slice(0, -1) as string[];
        // operators/validators without --add/--remove list them.
        const kind = spec.name.split(" ")[0];
        if ((kind === "operators" || kind === "validators") && o.add === undefined && o.remove === undefined) {
          const id = parseId("cluster", args[0]);
          const list = kind === "operators" ? await ctx.ddc.clusterOperators(id) : await ctx.ddc.clusterValidators(id);
          print(ctx, [...list], list.length === 0 ? `no ${kind}` : [...list]);
          return;
        }
        await carryOut(ctx, await spec.build(ctx, args, o), o);
      }),
    );
  }

  cluster
    .command("show <cluster>")
    .description(
      "a cluster: its manager (the DAO's Timelock, a Safe with its owners, or a key), parameters, price, era, nodes, revenue",
    )
    .action(
      run(async (ctx, c: string) => {
        const id = parseId("cluster", c);
        const [v, nodes, era, revenue, token] = await Promise.all([
          ctx.ddc.getCluster(id),
          ctx.ddc.clusterNodes(id),
          ctx.ddc.clusterEra(id),
          ctx.ddc.clusterRevenue(id),
          ctx.tokenInfo(),
        ]);
        const manager = await managerKind(ctx, v.manager);
        const pending = BigInt(v.pendingManager) === 0n ? undefined : await managerKind(ctx, v.pendingManager);
        const value = {
          id,
          manager: v.manager,
          managerKind: manager,
          pendingManager: v.pendingManager,
          pendingManagerKind: pending ?? null,
          replicationFactor: v.params.replicationFactor,
          eraLength: v.params.eraLength,
          era: era.era,
          eraEnd: era.end,
          nodes: [...nodes],
          reservedPerVNode: v.reservedPerVNode,
          allocated: v.allocated,
          price: v.price,
          pendingPrice: v.pendingPrice,
          pendingPriceAt: v.pendingPriceAt,
          revenuePool: v.revenuePool,
          reserve: revenue.reserve,
          nextEraToDistribute: revenue.nextEra,
          ...tokenJson(token),
        };
        const money = (x: bigint) => ctx.money(x);
        const row = (k: string, x: string) => `${k.padEnd(20)} ${x}`;
        print(ctx, value, [
          row("cluster", String(id)),
          row("manager", describeManager(manager)),
          ...(pending === undefined ? [] : [row("pending manager", `${describeManager(pending)} (must accept)`)]),
          row("replication", String(v.params.replicationFactor)),
          row("era length", formatDuration(v.params.eraLength)),
          row("era", `${era.era}, ends ${await ctx.time(era.end)}`),
          row("nodes", nodes.length === 0 ? "none" : nodes.join(", ")),
          row("reserved per vNode", `${v.reservedPerVNode} units`),
          row("allocated", `${v.allocated} units`),
          row("price", `${await money(v.price)} per unit per month`),
          ...(v.pendingPriceAt > 0n
            ? [row("pending price", `${await money(v.pendingPrice)} from ${await ctx.time(v.pendingPriceAt)}`)]
            : []),
          row("revenue pool", await money(v.revenuePool)),
          row("reserve", await money(revenue.reserve)),
          row("next era to pay", String(revenue.nextEra)),
        ]);
      }),
    );
}
