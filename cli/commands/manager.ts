import type { Command } from "commander";
import { DEFAULT_CLUSTER_PARAMS as D } from "../../deploy/core";
import * as build from "../../governance/actions";
import { proposeOnce } from "../../governance/dao";
import { buildSafeTxData, safeTxHash } from "../../governance/safeStore";
import { parseAddress, parseHash, parseId, parseIds, parseUint, type Context } from "../context";
import { CliError } from "../errors";
import { coreEvents, print, send } from "../output";
import { STORE_HELP, checkedSafeTx, connectionFor, privateKeyOf, queueFor, storeFrom } from "../safeSupport";
import type { Runner } from "../main";

interface Via {
  propose?: boolean;
  safe?: string;
  store?: string;
}

/**
 * Carries out a manager action the way the cluster's manager acts: sent from the key (an EOA
 * manager, or an operator for routine work), proposed to the DAO (`--propose`), or put in the
 * Safe's signature store signed by the key's owner (`--safe <address>`).
 */
async function carryOut(ctx: Context, action: build.ManagerAction, via: Via): Promise<void> {
  const signer = await ctx.signer();
  const me = await signer.getAddress();
  if (via.propose === true && via.safe !== undefined) throw new CliError("give --propose or --safe, not both");
  if (via.propose === true) {
    const args = build.toProposal(action, me);
    ctx.progress(`proposing "${action.title}" to the Governor…`);
    const outcome = await proposeOnce(ctx.governor.connect(signer), args);
    print(
      ctx,
      { proposalId: outcome.id, created: outcome.created, ...(outcome.created ? {} : { reason: outcome.reason }) },
      outcome.created
        ? `proposal ${outcome.id} created: vote with \`ddc gov vote ${outcome.id} for\``
        : `not proposed again (${outcome.reason}): proposal ${outcome.id}`,
    );
    return;
  }
  if (via.safe !== undefined) {
    const safe = parseAddress("--safe", via.safe);
    const store = storeFrom(ctx, via.store);
    const queue = queueFor(ctx, safe, store);
    const nonce = await queue.nextNonce();
    const connection = connectionFor(ctx, safe);
    const data = await buildSafeTxData(
      connection,
      privateKeyOf(signer),
      action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value })),
      nonce,
    );
    // What was built passes the rule every signer applies (a batch only through MultiSendCallOnly).
    checkedSafeTx(ctx, "sign", safeTxHash(ctx.record.chainId, safe, data), data);
    const tx = await queue.propose(data, build.describe(action), signer);
    print(
      ctx,
      { safe, safeTxHash: tx.safeTxHash, nonce, signedBy: me },
      `Safe transaction ${tx.safeTxHash} (nonce ${nonce}) stored and signed by ${me}: other owners run \`ddc safe sign ${safe} ${tx.safeTxHash}\``,
    );
    return;
  }
  for (const c of action.calls) {
    await send(
      ctx,
      action.title,
      () => signer.sendTransaction({ to: c.target, data: c.data, value: c.value }) as never,
    );
  }
  print(ctx, { done: action.title, key: action.key }, `done: ${action.title}`);
}

const viaOptions = (cmd: Command) =>
  cmd
    .option("--propose", "propose it to the DAO (the cluster is managed by the Timelock)")
    .option("--safe <address>", "put it in the Safe's queue, signed by the key (the cluster is managed by that Safe)")
    .option("--store <where>", STORE_HELP);

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

  viaOptions(
    cluster
      .command("add-node <cluster> <node>")
      .description("add a node with vNodes at --tokens")
      .requiredOption("--tokens <t1,t2,...>", "ring tokens (uint64) of the node's vNodes"),
  ).action(
    run(async (ctx, c: string, n: string, o: Via & { tokens: string }) => {
      const tokens = o.tokens.split(",").map((t) => parseUint("token", t.trim()));
      await carryOut(
        ctx,
        build.addNode(ctx.ddc.target as string, { cluster: parseId("cluster", c), node: parseId("node", n), tokens }),
        o,
      );
    }),
  );

  viaOptions(
    cluster
      .command("replace-node <cluster> <node>")
      .description("hand every vNode of a node to replacements (one per vNode, in token order)")
      .requiredOption("--to <n1,n2,...>", "the replacement of each vNode")
      .requiredOption("--evidence <hash>", "the evidence document's keccak256")
      .option("--era <n>", "the era the decision is about (in the action key)"),
  ).action(
    run(async (ctx, c: string, n: string, o: Via & { to: string; evidence: string; era?: string }) => {
      const action = build.replaceNode(ctx.ddc.target as string, {
        cluster: parseId("cluster", c),
        node: parseId("node", n),
        replacements: parseIds("replacement", o.to),
        evidenceHash: parseHash("--evidence", o.evidence),
        ...(o.era !== undefined ? { era: parseUint("--era", o.era) } : {}),
      });
      await carryOut(ctx, action, o);
    }),
  );

  viaOptions(cluster.command("reserve <cluster> <unitsPerVNode>").description("units reserved on every vNode")).action(
    run(async (ctx, c: string, u: string, o: Via) => {
      await carryOut(
        ctx,
        build.reservation(ctx.ddc.target as string, {
          cluster: parseId("cluster", c),
          unitsPerVNode: parseUint("units", u),
        }),
        o,
      );
    }),
  );

  viaOptions(
    cluster
      .command("params <cluster>")
      .description("change the cluster's parameters (unspecified ones keep their value)")
      .option("--replication <n>")
      .option("--era-length <seconds>")
      .option("--qos-threshold <bps>")
      .option("--management-fee <bps>")
      .option("--price-notice <seconds>"),
  ).action(
    run(async (ctx, c: string, o: Via & Record<string, string | undefined>) => {
      const id = parseId("cluster", c);
      const p = (await ctx.ddc.getCluster(id)).params;
      const pick = (name: string, current: bigint) =>
        o[name] !== undefined ? Number(parseUint(`--${name}`, o[name] as string)) : Number(current);
      const params = {
        replicationFactor: pick("replication", p.replicationFactor),
        eraLength: pick("eraLength", p.eraLength),
        qosThreshold: pick("qosThreshold", p.qosThreshold),
        managementFeeBps: pick("managementFee", p.managementFeeBps),
        priceNotice: pick("priceNotice", p.priceNotice),
      };
      await carryOut(ctx, build.clusterParameters(ctx.ddc.target as string, { cluster: id, params }), o);
    }),
  );

  for (const kind of ["operators", "validators"] as const) {
    viaOptions(
      cluster
        .command(`${kind} <cluster>`)
        .description(`add or remove ${kind}; without --add/--remove, list them`)
        .option("--add <addresses>", "comma-separated")
        .option("--remove <addresses>", "comma-separated"),
    ).action(
      run(async (ctx, c: string, o: Via & { add?: string; remove?: string }) => {
        const id = parseId("cluster", c);
        const list = (raw?: string) =>
          raw === undefined ? [] : raw.split(",").map((a) => parseAddress(kind, a.trim()));
        if (o.add === undefined && o.remove === undefined) {
          const members =
            kind === "operators" ? await ctx.ddc.clusterOperators(id) : await ctx.ddc.clusterValidators(id);
          print(ctx, [...members], members.length === 0 ? `no ${kind}` : [...members]);
          return;
        }
        const builder = kind === "operators" ? build.operators : build.validators;
        await carryOut(
          ctx,
          builder(ctx.ddc.target as string, { cluster: id, add: list(o.add), remove: list(o.remove) }),
          o,
        );
      }),
    );
  }

  viaOptions(
    cluster
      .command("handover <cluster>")
      .description("propose a new manager (--to), or accept as the pending one (--accept)")
      .option("--to <address>", "the new manager")
      .option("--accept", "accept the cluster (as its pending manager)"),
  ).action(
    run(async (ctx, c: string, o: Via & { to?: string; accept?: boolean }) => {
      const id = parseId("cluster", c);
      if ((o.to === undefined) === (o.accept !== true)) throw new CliError("give either --to <address> or --accept");
      const action =
        o.accept === true
          ? build.handover(ctx.ddc.target as string, { cluster: id, step: "accept" })
          : build.handover(ctx.ddc.target as string, {
              cluster: id,
              step: "propose",
              newManager: parseAddress("--to", o.to as string),
            });
      await carryOut(ctx, action, o);
    }),
  );

  cluster
    .command("show <cluster>")
    .description("a cluster: manager, parameters, price, era, nodes, revenue")
    .action(
      run(async (ctx, c: string) => {
        const id = parseId("cluster", c);
        const [v, nodes, era, revenue] = await Promise.all([
          ctx.ddc.getCluster(id),
          ctx.ddc.clusterNodes(id),
          ctx.ddc.clusterEra(id),
          ctx.ddc.clusterRevenue(id),
        ]);
        const value = {
          id,
          manager: v.manager,
          pendingManager: v.pendingManager,
          replicationFactor: v.params.replicationFactor,
          eraLength: v.params.eraLength,
          era: era.era,
          eraEnd: era.end,
          nodes: [...nodes],
          reservedPerVNode: v.reservedPerVNode,
          allocated: v.allocated,
          price: v.price,
          pendingPrice: v.pendingPrice,
          revenuePool: v.revenuePool,
          reserve: revenue.reserve,
          nextEraToDistribute: revenue.nextEra,
        };
        print(
          ctx,
          value,
          Object.entries(value).map(([k, x]) => `${k.padEnd(20)} ${Array.isArray(x) ? x.join(", ") : String(x)}`),
        );
      }),
    );
}
