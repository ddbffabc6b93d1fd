import { getAddress, id as idOf, type Provider, type Signer } from "ethers";
import {
  callDifferences,
  describe as describeAction,
  formatActionKey,
  type ActionKind,
  type Call,
  parseActionKey,
  parseEvidence,
  sameKey,
  toProposal,
  type ManagerAction,
  type ProposalArgs,
} from "../../governance/actions";
import {
  executeById,
  getLogsPaged,
  listProposals,
  proposalState,
  queueById,
  type GovernorLike,
  type ProposalStateName,
} from "../../governance/dao";
import { callsOfSafeTx, safeTxFor, safeTxProblems, type SafeTrust } from "../../governance/multiSend";
import { nonceUsed, type SafeQueue, type SafeTxData } from "../../governance/safeStore";
import { IDDC__factory } from "../../typechain-types";
import { failpoint } from "./failpoints";
import { isRevert } from "./tx";
import type { ActionRecord, BotStore, Executor as ExecutorKind } from "./store";

/**
 * Where a cluster's manager actions go, and how the bot carries them out. One interface, three
 * executors: a Governor proposal (the bot proposes, then queues and executes when due: it is also
 * the keeper), a Safe transaction (the bot signs as one owner and publishes to the signature store;
 * it executes once the threshold is met), plain transactions from an operator key (routine work
 * only); and a fourth that only simulates, for the dry run. One orchestration (`carryOut`, `keep`,
 * `adoptOpen`) drives them all.
 *
 * The bot acts only on its own decision. Whatever it finds under a decision's action key (a
 * proposal, a stored Safe transaction) it signs, adopts, queues or executes only when its calls
 * are exactly the decided ones (target, value, calldata; for a Safe, also how they run) and, for a
 * proposal, when the bot or one of its replicas proposed it. Anything else is foreign: reported
 * (`onForeign`), never touched, and the bot proposes its own.
 */
export interface Target {
  readonly kind: ExecutorKind;
  /** The address the calls run from on chain (the Timelock, the Safe, the operator key). */
  sender(): Promise<string>;
  /** Carries out an action recorded as decided: finds its own under the key, or proposes or sends it. */
  start(store: BotStore, action: ManagerAction, resumed: boolean): Promise<ActionRecord>;
  /** Moves an open action on; undefined when there is nothing to do now. */
  keepOne(store: BotStore, record: ActionRecord, now: () => Promise<bigint>): Promise<ActionRecord | undefined>;
  /** After a store was lost: the cluster's live actions that the bot or a replica made, recorded. */
  adopt(store: BotStore, cluster: number): Promise<ActionRecord[]>;
}

/** Something under a decision's action key that is not the decided action. */
export interface ForeignAction {
  cluster: number;
  era: number | null;
  kind: ActionKind;
  /** The proposal id or Safe transaction hash. */
  ref: string;
  /** Who made it: a proposal's proposer, a Safe transaction's confirming owners. */
  by: string[];
  /** What differs from the decision, one line each. */
  differences: string[];
}

export interface ExecutorOptions {
  /** The bot's signer (a ManagedSigner in the service): its address, and its signatures. */
  bot: Signer;
  /** Other bots deciding the same clusters, by address: what they propose is the bot's own. */
  replicas?: readonly string[];
  /** Where log reads begin (the core's deployment block). */
  fromBlock?: number;
  /** Told of every foreign action found under a decision's key (the service alerts `foreign-action`). */
  onForeign?: (found: ForeignAction) => void;
}

export interface Evidence {
  hash: string;
  json: string;
}

const eraOf = (era: bigint | null) => (era === null ? null : Number(era));

/** An action's record once the store knows of its step (a crash point for the fault tests). */
function recorded(record: ActionRecord): ActionRecord {
  failpoint("action-recorded");
  return record;
}

abstract class BaseExecutor {
  constructor(protected readonly options: ExecutorOptions) {}

  protected async botAddress(): Promise<string> {
    return getAddress(await this.options.bot.getAddress());
  }

  /** The bot and its replicas. */
  protected async own(): Promise<Set<string>> {
    return new Set([await this.botAddress(), ...(this.options.replicas ?? []).map((r) => getAddress(r))]);
  }

  protected foreign(action: ManagerAction, ref: string, by: string[], differences: string[]): void {
    this.options.onForeign?.({
      cluster: Number(action.key.cluster),
      era: eraOf(action.key.era),
      kind: action.key.kind,
      ref,
      by,
      differences,
    });
  }
}

// ───────────────────────────────────────── Governor ─────────────────────────────────────────

/** The record's steps that bring a fresh decision to a proposal's state on chain. */
const PATH: Record<ProposalStateName, ActionRecord["state"][]> = {
  Pending: ["proposed"],
  Active: ["proposed"],
  Succeeded: ["proposed"],
  Queued: ["proposed", "queued"],
  Executed: ["proposed", "executed"],
  Defeated: ["proposed", "defeated"],
  Canceled: ["proposed", "cancelled"],
  Expired: ["proposed", "expired"],
};

/** States in which a proposal still stands for its decision (it may yet execute, or did). */
const STANDING: ProposalStateName[] = ["Pending", "Active", "Succeeded", "Queued", "Executed"];

export class GovernorExecutor extends BaseExecutor implements Target {
  readonly kind = "governor" as const;

  constructor(
    readonly governor: GovernorLike,
    options: ExecutorOptions,
  ) {
    super(options);
  }

  async sender(): Promise<string> {
    return getAddress(await this.governor.timelock());
  }

  private connected(): GovernorLike {
    return this.governor.connect(this.options.bot);
  }

  private async idOf(args: ProposalArgs): Promise<bigint> {
    return this.governor.hashProposal(args.targets, args.values, args.calldatas, idOf(args.description));
  }

  /** Who proposed `id` and its state, if it exists. */
  private async existing(id: bigint): Promise<{ proposer: string; state: ProposalStateName } | undefined> {
    if ((await this.governor.proposalSnapshot(id)) === 0n) return undefined;
    const [proposer, state] = await Promise.all([this.governor.proposalProposer(id), proposalState(this.governor, id)]);
    return { proposer: getAddress(proposer), state };
  }

  /** Records `action` as the proposal `id`, in the state the chain shows. */
  private record(store: BotStore, action: ManagerAction, id: bigint, state: ProposalStateName): ActionRecord {
    const { cluster, era, kind } = action.key;
    let r = store.action(Number(cluster), eraOf(era), kind)!;
    for (const step of PATH[state]) r = store.advance(Number(cluster), eraOf(era), kind, step, id.toString());
    return recorded(r);
  }

  /**
   * The proposal of a decision is the same whoever makes it (no proposer in its description), so
   * the bot's replicas compute the same id: the first proposes, the others find it and adopt it.
   * If a stranger proposed that very proposal first (they can copy it from the mempool, and cancel
   * it while it is pending), the bot proposes the form only it may propose (`#proposer=`).
   */
  async start(store: BotStore, action: ManagerAction): Promise<ActionRecord> {
    const own = await this.own();
    const bot = await this.botAddress();
    const shared = toProposal(action);
    const restricted = toProposal(action, bot);
    const ids = [await this.idOf(shared), await this.idOf(restricted)];
    let sharedTaken = false;
    for (const [i, id] of ids.entries()) {
      const found = await this.existing(id);
      if (found === undefined) continue;
      if (own.has(found.proposer)) return this.record(store, action, id, found.state);
      if (i === 0) sharedTaken = true;
      this.foreign(
        action,
        id.toString(),
        [found.proposer],
        [`proposed by ${found.proposer}, not by the bot nor a replica`],
      );
    }
    // Other proposals under the key: an older description, a replica's other decision, a stranger's.
    for (const p of await listProposals(this.governor, { fromBlock: this.options.fromBlock })) {
      const key = parseActionKey(p.description);
      if (key === undefined || !sameKey(key, action.key) || ids.includes(p.id)) continue;
      const state = await proposalState(this.governor, p.id);
      if (!STANDING.includes(state)) continue;
      const proposer = getAddress(p.proposer);
      const calls = p.targets.map((target, j) => ({ target, value: p.values[j], data: p.calldatas[j] }));
      const differences = [
        ...(own.has(proposer) ? [] : [`proposed by ${proposer}, not by the bot nor a replica`]),
        ...callDifferences(action.calls, calls),
      ];
      if (differences.length === 0) return this.record(store, action, p.id, state);
      this.foreign(action, p.id.toString(), [proposer], differences);
    }
    const args = sharedTaken ? restricted : shared;
    const id = ids[sharedTaken ? 1 : 0];
    try {
      await (await this.connected().propose(args.targets, args.values, args.calldatas, args.description)).wait();
    } catch (error) {
      // A replica proposed the same a moment before: it is this decision's proposal.
      const found = isRevert(error) ? await this.existing(id) : undefined;
      if (found !== undefined && own.has(found.proposer)) return this.record(store, action, id, found.state);
      throw error;
    }
    failpoint("action-sent");
    return recorded(
      store.advance(Number(action.key.cluster), eraOf(action.key.era), action.key.kind, "proposed", id.toString()),
    );
  }

  async keepOne(store: BotStore, a: ActionRecord, now: () => Promise<bigint>): Promise<ActionRecord | undefined> {
    const governor = this.connected();
    const id = BigInt(a.ref!);
    const advance = (to: ActionRecord["state"]) => store.advance(a.cluster, a.era, a.kind, to);
    /** The chain's state once a replica's queue or execute won the race (else the error stands). */
    const raced = async (error: unknown, past: ProposalStateName[]) => {
      const state = await proposalState(governor, id);
      if (!past.includes(state)) throw error;
      return state;
    };
    let state = await proposalState(governor, id);
    if (state === "Succeeded" && a.state === "proposed") {
      try {
        await queueById(governor, id, { fromBlock: this.options.fromBlock });
        failpoint("keeper-sent");
        return advance("queued");
      } catch (error) {
        state = await raced(error, ["Queued", "Executed"]);
      }
    }
    if (state === "Queued" && a.state === "proposed") {
      const r = advance("queued");
      if ((await governor.proposalEta(id)) > (await now())) return r;
    }
    if (state === "Queued" && (await governor.proposalEta(id)) <= (await now())) {
      try {
        await executeById(governor, id, { fromBlock: this.options.fromBlock });
        failpoint("keeper-sent");
        return advance("executed");
      } catch (error) {
        state = await raced(error, ["Executed"]);
      }
    }
    if (state === "Executed") return advance("executed");
    if (state === "Defeated" || state === "Canceled" || state === "Expired") {
      return advance(state === "Defeated" ? "defeated" : state === "Canceled" ? "cancelled" : "expired");
    }
    return undefined;
  }

  async adopt(store: BotStore, cluster: number): Promise<ActionRecord[]> {
    const own = await this.own();
    const adopted: ActionRecord[] = [];
    for (const p of await listProposals(this.governor, { fromBlock: this.options.fromBlock })) {
      const key = parseActionKey(p.description);
      if (key === undefined || Number(key.cluster) !== cluster || !own.has(getAddress(p.proposer))) continue;
      const state = await proposalState(this.governor, p.id);
      if (!["Pending", "Active", "Succeeded", "Queued"].includes(state)) continue;
      const era = eraOf(key.era);
      if (store.action(cluster, era, key.kind) !== undefined) continue;
      store.decide({
        cluster,
        era,
        kind: key.kind,
        executor: this.kind,
        evidenceHash: parseEvidence(p.description) ?? null,
        evidence: null,
        calls: p.targets.map((target, j) => ({ target, value: p.values[j], data: p.calldatas[j] })),
      });
      let r = store.action(cluster, era, key.kind)!;
      for (const step of PATH[state]) r = store.advance(cluster, era, key.kind, step, p.id.toString());
      adopted.push(r);
    }
    return adopted;
  }
}

// ─────────────────────────────────────────── Safe ───────────────────────────────────────────

/** Why the bot leaves a stored transaction alone, and what its owners do about it. */
const storedRefusal = (verb: string, hash: string, safe: string, nonce: number, problems: string[]) =>
  `the bot does not ${verb} the Safe transaction ${hash} of Safe ${safe}: ${problems.join("; ")}. Nobody should: ` +
  `reject its nonce ${nonce} (\`ddc safe reject ${safe} ${nonce}\`), and the bot proposes the action again`;

export class SafeExecutor extends BaseExecutor implements Target {
  readonly kind = "safe" as const;
  private readonly trust: SafeTrust;

  /**
   * `multiSendCallOnly`: the deployment's canonical MultiSendCallOnly, the one contract a batch
   * may be delegatecalled to (without it, Safe's own deployments for the chain, if any).
   */
  constructor(
    readonly queue: SafeQueue,
    readonly chainId: number,
    private readonly multiSendCallOnly: string | undefined,
    options: ExecutorOptions,
  ) {
    super(options);
    this.trust = {
      chainId,
      contracts: multiSendCallOnly === undefined ? {} : { MultiSendCallOnly: multiSendCallOnly },
    };
  }

  async sender(): Promise<string> {
    return getAddress(this.queue.safe);
  }

  /** What differs between a stored transaction and `calls` (and what the Safe rule refuses in it). */
  private differences(data: SafeTxData, calls: readonly Call[] | null): string[] {
    const found = callsOfSafeTx(data, this.trust);
    return [...found.problems, ...(calls === null ? [] : callDifferences(calls, found.calls))];
  }

  async start(store: BotStore, action: ManagerAction): Promise<ActionRecord> {
    const { queue } = this;
    const c = Number(action.key.cluster);
    const e = eraOf(action.key.era);
    const { kind } = action.key;
    const bot = await this.botAddress();
    const same = (await queue.list()).filter((t) => {
      const k = t.description === undefined ? undefined : parseActionKey(t.description);
      return k !== undefined && sameKey(k, action.key);
    });
    const exact = same.filter((t) => {
      const differences = this.differences(t.data, action.calls);
      if (differences.length > 0 && !nonceUsed(t.status))
        this.foreign(action, t.safeTxHash, t.confirmations, differences);
      return differences.length === 0;
    });
    // Executed already (the store forgot): done, not again.
    for (const t of exact.filter((x) => nonceUsed(x.status))) {
      if (t.status === "executed" || (await queue.wasExecuted(t.safeTxHash)))
        return recorded(store.advance(c, e, kind, "executed", t.safeTxHash));
    }
    // The decided action, stored by a replica (or the bot before a stop): adopted as it stands. The
    // bot adds no signature to it: two bots' keys must never make a threshold on their own.
    const live = exact.find((t) => !nonceUsed(t.status));
    if (live !== undefined) return recorded(store.advance(c, e, kind, "awaiting-signatures", live.safeTxHash));
    // The bot signs what it proposes: it must be an owner (else nothing is stored).
    if (!(await queue.owners()).includes(bot)) {
      throw new Error(`the bot's key ${bot} is not an owner of the Safe ${queue.safe}: it cannot propose to it`);
    }
    const data: SafeTxData = { ...safeTxFor(action.calls, this.multiSendCallOnly), nonce: await queue.nextNonce() };
    const problems = safeTxProblems(data, this.trust);
    if (problems.length > 0) {
      throw new Error(
        `the Safe transaction built for ${formatActionKey(action.key)} is refused: ${problems.join("; ")}. ` +
          "check the deployment record's MultiSendCallOnly: it is the one a batch goes through",
      );
    }
    const tx = await queue.propose(data, describeAction(action), this.options.bot);
    failpoint("action-sent");
    return recorded(store.advance(c, e, kind, "awaiting-signatures", tx.safeTxHash));
  }

  async keepOne(store: BotStore, a: ActionRecord): Promise<ActionRecord | undefined> {
    const { queue } = this;
    const ref = a.ref!;
    const entry = await queue.entry(ref);
    if (entry.status === "executable") {
      const differences = this.differences(entry.data, a.calls);
      if (differences.length > 0)
        throw new Error(storedRefusal("execute", ref, queue.safe, entry.data.nonce, differences));
      try {
        await queue.executeWith(this.options.bot, ref);
      } catch (error) {
        // A replica or an owner executed it a moment before.
        if (!(await queue.wasExecuted(ref))) throw error;
      }
      failpoint("keeper-sent");
      return store.advance(a.cluster, a.era, a.kind, "executed");
    }
    if (nonceUsed(entry.status)) {
      // Its nonce is used: by this very transaction (someone executed it), or by another one.
      const executed = entry.status === "executed" || (await queue.wasExecuted(ref));
      return store.advance(a.cluster, a.era, a.kind, executed ? "executed" : "cancelled");
    }
    return undefined;
  }

  async adopt(store: BotStore, cluster: number): Promise<ActionRecord[]> {
    const own = await this.own();
    const adopted: ActionRecord[] = [];
    for (const t of await this.queue.list()) {
      const key = t.description === undefined ? undefined : parseActionKey(t.description);
      if (key === undefined || Number(key.cluster) !== cluster || nonceUsed(t.status)) continue;
      // The bot's own: confirmed by the bot or a replica, and acceptable to sign.
      if (!t.confirmations.some((o) => own.has(o))) continue;
      const found = callsOfSafeTx(t.data, this.trust);
      if (found.problems.length > 0) continue;
      const era = eraOf(key.era);
      if (store.action(cluster, era, key.kind) !== undefined) continue;
      store.decide({
        cluster,
        era,
        kind: key.kind,
        executor: this.kind,
        evidenceHash: parseEvidence(t.description!) ?? null,
        evidence: null,
        calls: found.calls,
      });
      adopted.push(store.advance(cluster, era, key.kind, "awaiting-signatures", t.safeTxHash));
    }
    return adopted;
  }
}

// ───────────────────────────────────────── Operator ─────────────────────────────────────────

/** The event each call of a routine action emits, with (cluster, era) indexed and the evidence hash first in its data. */
const EVENT_OF: Partial<Record<ActionKind, string>> = {
  "usage-report": "UsageReported",
  distribution: "RevenuesDistributed",
};
const CORE_EVENTS = IDDC__factory.createInterface();

export class OperatorExecutor extends BaseExecutor implements Target {
  readonly kind = "operator" as const;

  constructor(options: ExecutorOptions) {
    super(options);
  }

  sender(): Promise<string> {
    return this.botAddress();
  }

  async start(store: BotStore, action: ManagerAction, resumed: boolean): Promise<ActionRecord> {
    const { bot } = this.options;
    const c = Number(action.key.cluster);
    const e = eraOf(action.key.era);
    const { kind } = action.key;
    // An era distributed already (by another operator, or the manager): done, not again.
    if (await this.distributedAlready(action)) return recorded(store.advance(c, e, kind, "executed"));
    // Resumed after a stop: the calls whose event is on chain already are not sent again.
    const found = resumed ? await this.doneOnChain(action) : [];
    let last = found.at(-1) ?? "";
    for (const call of action.calls.slice(found.length)) {
      try {
        const response = await bot.sendTransaction({ to: call.target, data: call.data, value: call.value });
        await response.wait();
        last = response.hash;
      } catch (error) {
        // The call reverts (in simulation, or mined): a replica may have carried it out a moment
        // before; else it cannot be carried out as it stands. Recorded as failed (the era goes on:
        // the next actions are not held back); any other error (the node away) leaves it to the
        // next run.
        if (!isRevert(error)) throw error;
        if (await this.distributedAlready(action)) return recorded(store.advance(c, e, kind, "executed"));
        const done = await this.doneOnChain(action);
        if (done.length === action.calls.length && done.length > 0) {
          return recorded(store.advance(c, e, kind, "executed", done.at(-1)));
        }
        return store.advance(c, e, kind, "failed", last === "" ? undefined : last);
      }
    }
    failpoint("action-sent");
    return recorded(store.advance(c, e, kind, "executed", last));
  }

  /** Whether the action is a distribution of an era the core has distributed already. */
  private async distributedAlready(action: ManagerAction): Promise<boolean> {
    if (action.key.kind !== "distribution" || action.key.era === null) return false;
    const core = IDDC__factory.connect(action.calls[0].target, this.options.bot);
    return (await core.clusterRevenue(action.key.cluster)).nextEra > action.key.era;
  }

  /**
   * The transactions that already carried out the first calls of the action (its events on
   * chain: same cluster, era and evidence hash, in order). Settlements have no such mark and are
   * sent again (settling twice only settles what accrued in between).
   */
  private async doneOnChain(action: ManagerAction): Promise<string[]> {
    const name = EVENT_OF[action.key.kind];
    const provider: Provider | null = this.options.bot.provider;
    if (name === undefined || action.key.era === null || action.evidenceHash === undefined || provider == null) {
      return [];
    }
    const topic = (v: bigint) => "0x" + v.toString(16).padStart(64, "0");
    const logs = await getLogsPaged(
      provider,
      {
        address: action.calls[0].target,
        topics: [
          CORE_EVENTS.getEvent(name as "UsageReported").topicHash,
          topic(action.key.cluster),
          topic(action.key.era),
        ],
      },
      this.options.fromBlock ?? 0,
      await provider.getBlockNumber(),
    );
    return logs
      .filter((l) => l.data.slice(0, 66).toLowerCase() === action.evidenceHash!.toLowerCase())
      .map((l) => l.transactionHash)
      .slice(0, action.calls.length);
  }

  async keepOne(): Promise<ActionRecord | undefined> {
    return undefined;
  }

  async adopt(): Promise<ActionRecord[]> {
    return [];
  }
}

// ──────────────────────────────────────── Simulation ────────────────────────────────────────

/** One call a dry run simulated. */
export interface SimulatedCall {
  era: number | null;
  kind: ActionKind;
  title: string;
  from: string;
  ok: boolean;
  revert?: string;
}

/**
 * The dry run's executor: each call of an action is simulated (`eth_call`) from the address the
 * real executor's calls run from, and the action recorded (in the dry run's own store) as executed
 * or failed. Nothing is sent, signed or stored elsewhere.
 */
export class SimulatingExecutor implements Target {
  readonly kind: ExecutorKind;

  /** `calls`: where each simulated call is written, in order (several executors may share one). */
  constructor(
    private readonly real: Target,
    private readonly provider: Provider,
    private readonly explain: (error: unknown) => string,
    readonly calls: SimulatedCall[] = [],
  ) {
    this.kind = real.kind;
  }

  sender(): Promise<string> {
    return this.real.sender();
  }

  async start(store: BotStore, action: ManagerAction): Promise<ActionRecord> {
    const from = await this.sender();
    let ok = true;
    for (const call of action.calls) {
      let revert: string | undefined;
      try {
        await this.provider.call({ from, to: call.target, data: call.data, value: call.value });
      } catch (error) {
        revert = this.explain(error);
        ok = false;
      }
      this.calls.push({
        era: eraOf(action.key.era),
        kind: action.key.kind,
        title: action.title,
        from,
        ok: revert === undefined,
        ...(revert === undefined ? {} : { revert }),
      });
    }
    const { cluster, era, kind } = action.key;
    return store.advance(Number(cluster), eraOf(era), kind, ok ? "executed" : "failed");
  }

  async keepOne(): Promise<ActionRecord | undefined> {
    return undefined;
  }

  async adopt(): Promise<ActionRecord[]> {
    return [];
  }
}

// ─────────────────────────────────────── Orchestration ──────────────────────────────────────

/**
 * Carries out one decided action, once: the store is asked first (a restart resumes), then the
 * executor looks for the same decision already made (by a replica, or before a crash between
 * proposing and recording) and proposes or sends only when there is none. Returns its record.
 */
export async function carryOut(
  store: BotStore,
  target: Target,
  action: ManagerAction,
  evidence: Evidence | null,
): Promise<ActionRecord> {
  const { cluster, era, kind } = action.key;
  const c = Number(cluster);
  const e = eraOf(era);
  const resumed = store.action(c, e, kind)?.state === "decided";
  const record = store.decide({
    cluster: c,
    era: e,
    kind,
    executor: target.kind,
    evidenceHash: evidence?.hash ?? null,
    evidence: evidence?.json ?? null,
    calls: action.calls,
  });
  if (record.state !== "decided") return record;
  return target.start(store, action, resumed);
}

/**
 * The keeper: moves every open action on. A succeeded proposal is queued, a queued one executed
 * once the Timelock allows; a defeated, cancelled or expired one is recorded as such. A Safe
 * transaction that reached its threshold is executed; one whose nonce was used by another is
 * recorded as cancelled. A replica that queued or executed first is not a failure.
 */
export async function keep(
  store: BotStore,
  target: Target,
  now: () => Promise<bigint>,
  options: {
    /** Only this cluster's actions (a bot keeps each cluster with that cluster's target). */
    cluster?: number;
    /**
     * An action the keeper could not move. Without it, the error is thrown. A revert of its
     * execution (the action cannot be carried out as it stands) is recorded as failed first.
     */
    onError?: (action: ActionRecord, error: unknown) => void;
  } = {},
): Promise<ActionRecord[]> {
  const moved: ActionRecord[] = [];
  for (const a of store.open()) {
    if (a.executor !== target.kind || a.ref === null) continue;
    if (options.cluster !== undefined && a.cluster !== options.cluster) continue;
    try {
      const next = await target.keepOne(store, a, now);
      if (next !== undefined) moved.push(next);
    } catch (error) {
      if (options.onError === undefined) throw error;
      const current = store.action(a.cluster, a.era, a.kind)!;
      if (
        isRevert(error) &&
        (current.state === "queued" || current.state === "awaiting-signatures" || current.state === "proposed")
      ) {
        moved.push(store.advance(a.cluster, a.era, a.kind, "failed"));
      }
      options.onError(a, error);
    }
  }
  return moved;
}

/**
 * Rebuilds the store's view of a cluster's live actions from the chain and the Safe store (after
 * the store was lost): every live proposal the bot or a replica proposed, and every live Safe
 * transaction the bot or a replica confirmed, that carries an action key of the cluster, unless the
 * store knows it already. The keeper then moves them on, and nothing is proposed twice.
 */
export function adoptOpen(store: BotStore, target: Target, cluster: number): Promise<ActionRecord[]> {
  return target.adopt(store, cluster);
}
