import { Contract, getAddress } from "ethers";
import * as build from "../governance/actions";
import { proposeOnce } from "../governance/dao";
import { buildSafeTxData, safeTxHash } from "../governance/safeStore";
import { formatDuration } from "../lib/format";
import type { Context } from "./context";
import { CliError } from "./errors";
import { print, send } from "./output";
import { checkedSafeTx, connectionFor, privateKeyOf, queueFor, storeFrom } from "./safeSupport";

/**
 * Who a cluster's manager is, found by asking the address itself: no code is a key (an EOA);
 * a TimelockController answers `getMinDelay()` and `PROPOSER_ROLE()`; a Safe answers `getOwners()`
 * and `getThreshold()`. The deployment's Timelock is the DAO's: its Governor proposes.
 */
export type ManagerKind =
  | { kind: "timelock"; address: string; dao: boolean; minDelay: bigint }
  | { kind: "safe"; address: string; owners: string[]; threshold: bigint }
  | { kind: "key"; address: string }
  | { kind: "contract"; address: string };

const PROBE = [
  "function getMinDelay() view returns (uint256)",
  "function PROPOSER_ROLE() view returns (bytes32)",
  "function getOwners() view returns (address[])",
  "function getThreshold() view returns (uint256)",
];

/** What kind of manager `address` is (see ManagerKind). */
export async function managerKind(ctx: Context, address: string): Promise<ManagerKind> {
  const at = getAddress(address);
  if ((await ctx.provider.getCode(at)) === "0x") return { kind: "key", address: at };
  const probe = new Contract(at, PROBE, ctx.provider);
  const attempt = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch {
      return undefined;
    }
  };
  const [minDelay, proposerRole] = await Promise.all([
    attempt(() => probe.getMinDelay() as Promise<bigint>),
    attempt(() => probe.PROPOSER_ROLE() as Promise<string>),
  ]);
  if (minDelay !== undefined && proposerRole !== undefined) {
    return { kind: "timelock", address: at, dao: at === getAddress(ctx.timelock.target as string), minDelay };
  }
  const [owners, threshold] = await Promise.all([
    attempt(() => probe.getOwners() as Promise<string[]>),
    attempt(() => probe.getThreshold() as Promise<bigint>),
  ]);
  if (owners !== undefined && threshold !== undefined) {
    return { kind: "safe", address: at, owners: owners.map((o) => getAddress(o)), threshold };
  }
  return { kind: "contract", address: at };
}

/** The manager in words: `the DAO's Timelock 0x… (…)`, `a Safe 0x…, 2 of 4 owners: …`, `a key 0x…`. */
export function describeManager(m: ManagerKind): string {
  switch (m.kind) {
    case "timelock":
      return m.dao
        ? `the DAO's Timelock ${m.address} (its Governor proposes; execution waits at least ${formatDuration(m.minDelay)})`
        : `a TimelockController ${m.address} that is not this deployment's (its own proposers act; delay ${formatDuration(m.minDelay)})`;
    case "safe":
      return `a Safe ${m.address}, ${m.threshold} of ${m.owners.length} owners must sign: ${m.owners.join(", ")}`;
    case "key":
      return `a key ${m.address} (an account without code: it sends its own transactions)`;
    case "contract":
      return `a contract ${m.address} that is neither a TimelockController nor a Safe`;
  }
}

/** Short proposal ids in listings: the first 10 digits (any unique prefix of 6 or more is accepted). */
export function shortId(id: bigint): string {
  const s = id.toString();
  return s.length <= 10 ? s : s.slice(0, 10);
}

/** Proposes `action` to the deployment's Governor from the key, and prints the proposal's id. */
export async function proposeAction(ctx: Context, action: build.ManagerAction): Promise<void> {
  const signer = await ctx.signer();
  const args = build.toProposal(action, await signer.getAddress());
  ctx.progress(`proposing "${action.title}" to the Governor…`);
  const outcome = await proposeOnce(ctx.governor.connect(signer), args, { fromBlock: ctx.record.block });
  const short = shortId(outcome.id);
  print(
    ctx,
    {
      proposalId: outcome.id,
      created: outcome.created,
      title: action.title,
      ...(outcome.created ? {} : { reason: outcome.reason }),
    },
    outcome.created
      ? [
          `proposal ${short} created: ${action.title}`,
          `  id ${outcome.id}`,
          `  vote with \`ddc gov vote ${short} for\`, follow it with \`ddc gov show ${short}\``,
        ]
      : `not proposed again (${outcome.reason === "exists" ? "the same proposal exists" : "a standing proposal makes the same decision"}): proposal ${short} (id ${outcome.id})`,
  );
}

/** Options that force a route (and the Safe's signature store). */
export interface Via {
  propose?: boolean;
  safe?: string;
  store?: string;
}

/** Routine work a cluster's operators may do as well as its manager. */
const ROUTINE: build.ActionKind[] = ["usage-report", "distribution", "settlement"];

const ACCEPT = (ctx: Context) => ctx.ddc.interface.getFunction("clusterAcceptManager")!.selector;

/**
 * Carries out a manager action the way the cluster's manager acts, found by asking the manager
 * (see managerKind): sent from the key when it is the manager (or one of its operators, for
 * routine work), proposed to the Governor when the manager is the DAO's Timelock, put in the
 * Safe's signature store signed by the key when the manager is a Safe the key owns. `--propose`
 * and `--safe` force a route; a route that cannot work (the key is not an owner of the Safe, nor
 * the manager, the Safe is not the manager…) is an error before anything is signed or sent.
 */
export async function carryOut(ctx: Context, action: build.ManagerAction, via: Via): Promise<void> {
  if (via.propose === true && via.safe !== undefined) throw new CliError("give --propose or --safe, not both");
  const signer = await ctx.signer();
  const me = getAddress(await signer.getAddress());
  const cluster = action.key.cluster;
  // Global parameters (cluster 0) belong to the DAO; accepting a handover is the pending manager's.
  let actor: string;
  let role = "manager";
  if (cluster === 0n) actor = ctx.timelock.target as string;
  else {
    const view = await ctx.ddc.getCluster(cluster);
    const accepting = action.calls[0]?.data.slice(0, 10) === ACCEPT(ctx);
    actor = accepting ? view.pendingManager : view.manager;
    if (accepting) role = "pending manager";
    if (accepting && BigInt(actor) === 0n) {
      throw new CliError(
        `cluster ${cluster} has no pending manager`,
        "its manager names one first: `ddc cluster handover <cluster> --to <address>`",
      );
    }
  }
  const manager = await managerKind(ctx, actor);
  const whose = cluster === 0n ? "the core's global parameters" : `cluster ${cluster}`;
  const is = `${whose}'s ${role} is ${describeManager(manager)}`;
  const routine = ROUTINE.includes(action.key.kind);
  const operator = async () =>
    routine && cluster !== 0n && (await ctx.ddc.clusterOperators(cluster)).map((a) => getAddress(a)).includes(me);

  if (via.propose === true) {
    if (manager.kind !== "timelock" || !manager.dao) {
      throw new CliError(`--propose: ${is}, not the DAO's Timelock: an executed proposal could not do this`);
    }
    return proposeAction(ctx, action);
  }
  if (via.safe !== undefined) {
    const safe = getAddress(via.safe);
    if (manager.address !== safe) throw new CliError(`--safe ${safe}: ${is}, not that Safe`);
    return toSafe(ctx, action, manager, me, via, is);
  }
  if (manager.address === me || (await operator())) return sendAll(ctx, action);
  switch (manager.kind) {
    case "timelock":
      if (!manager.dao) throw new CliError(`${is}: propose it through that Timelock's own proposers`);
      ctx.progress(`${is}: proposing`);
      return proposeAction(ctx, action);
    case "safe":
      return toSafe(ctx, action, manager, me, via, is);
    case "key":
      throw new CliError(
        `the key ${me} is not ${whose}'s ${role}${routine ? " nor one of its operators" : ""}: ${is}`,
        `use that key (DDC_PRIVATE_KEY)`,
      );
    case "contract":
      throw new CliError(`${is}: ddc cannot act for it`);
  }
}

async function sendAll(ctx: Context, action: build.ManagerAction): Promise<void> {
  const signer = await ctx.signer();
  for (const c of action.calls) {
    await send(
      ctx,
      action.title,
      () => signer.sendTransaction({ to: c.target, data: c.data, value: c.value }) as never,
    );
  }
  print(ctx, { done: action.title, key: action.key }, `done: ${action.title}`);
}

async function toSafe(
  ctx: Context,
  action: build.ManagerAction,
  manager: ManagerKind,
  me: string,
  via: Via,
  is: string,
): Promise<void> {
  if (manager.kind !== "safe") throw new CliError(`--safe: ${is}, not a Safe`);
  if (!manager.owners.includes(me)) {
    throw new CliError(
      `the key ${me} is not an owner of the Safe ${manager.address}: ${is}`,
      "use an owner's key; the owners sign with `ddc safe sign`",
    );
  }
  const safe = manager.address;
  const signer = await ctx.signer();
  const store = storeFrom(ctx, via.store);
  const queue = queueFor(ctx, safe, store);
  const nonce = await queue.nextNonce();
  const data = await buildSafeTxData(
    connectionFor(ctx, safe),
    privateKeyOf(signer),
    action.calls.map((c) => ({ to: c.target, data: c.data, value: c.value })),
    nonce,
  );
  // What was built passes the rule every signer applies (a batch only through MultiSendCallOnly).
  checkedSafeTx(ctx, "sign", safeTxHash(ctx.record.chainId, safe, data), data);
  const tx = await queue.propose(data, build.describe(action), signer);
  print(
    ctx,
    { safe, safeTxHash: tx.safeTxHash, nonce, signedBy: me, threshold: manager.threshold },
    `Safe transaction ${tx.safeTxHash} (nonce ${nonce}) stored and signed by ${me}, 1 of ${manager.threshold}: other owners run \`ddc safe sign ${safe} ${tx.safeTxHash}\``,
  );
}
