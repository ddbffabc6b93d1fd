import { getAddress, type Signer } from "ethers";
import {
  describe as describeAction,
  formatActionKey,
  type ActionKind,
  parseActionKey,
  parseEvidence,
  sameKey,
  toProposal,
  type ManagerAction,
} from "../../governance/actions";
import {
  executeById,
  getLogsPaged,
  listProposals,
  proposalState,
  proposeOnce,
  queueById,
  type GovernorLike,
} from "../../governance/dao";
import { safeTxProblems } from "../../governance/multiSend";
import type { SafeConnection } from "../../governance/safe";
import { buildSafeTxData, signSafeTx, type SafeQueue, type SafeTxData } from "../../governance/safeStore";
import { IDDC__factory } from "../../typechain-types";
import { failpoint } from "./failpoints";
import { isRevert } from "./tx";
import type { ActionRecord, BotStore, Executor } from "./store";

/**
 * Where a cluster's manager actions go, and how the bot carries them out: a Governor proposal
 * (the bot proposes, then queues and executes when due: it is also the keeper), a Safe
 * transaction (the bot signs as one owner and publishes to the signature store; it executes once
 * the threshold is met), or plain transactions from an operator key (routine work only).
 */
export type Target =
  | { kind: "governor"; governor: GovernorLike; bot: Signer; fromBlock?: number }
  | { kind: "safe"; queue: SafeQueue; connection: SafeConnection; bot: Signer; botKey: string; chainId: number }
  | { kind: "operator"; bot: Signer; fromBlock?: number };

export interface Evidence {
  hash: string;
  json: string;
}

const executorOf = (t: Target): Executor => t.kind;

/**
 * Refuses to sign or execute `data` when multiSend.ts's rule does (a delegatecall to anything but
 * the canonical MultiSendCallOnly, here the connection's; a delegatecall inside a batch; a gas
 * refund): the signature store is shared, and whoever writes to it could put such a transaction
 * there under the bot's action key.
 */
function refuseUnsafe(
  target: Extract<Target, { kind: "safe" }>,
  data: SafeTxData,
  refusal: (problems: string) => string,
): void {
  const multiSendCallOnly = target.connection.contractNetworks?.[String(target.chainId)]?.multiSendCallOnlyAddress;
  const problems = safeTxProblems(data, {
    chainId: target.chainId,
    contracts: multiSendCallOnly === undefined ? {} : { MultiSendCallOnly: multiSendCallOnly },
  });
  if (problems.length > 0) throw new Error(refusal(problems.join("; ")));
}

/** Why the bot leaves a stored transaction alone, and what its owners do about it. */
const storedRefusal = (verb: string, hash: string, safe: string, nonce: number) => (problems: string) =>
  `the bot does not ${verb} the Safe transaction ${hash} of Safe ${safe}: ${problems}. Nobody should: ` +
  `reject its nonce ${nonce} (\`ddc safe reject ${safe} ${nonce}\`), and the bot proposes the action again`;

/** An action's record once the store knows of its step (a crash point for the fault tests). */
function recorded(record: ActionRecord): ActionRecord {
  failpoint("action-recorded");
  return record;
}

/**
 * Carries out one decided action, once: the store is asked first (a restart resumes), then the
 * chain or the Safe store is searched for the same action key (a replica, or a crash between
 * proposing and recording, proposes nothing twice). Returns the action's record.
 */
export async function carryOut(
  store: BotStore,
  target: Target,
  action: ManagerAction,
  evidence: Evidence | null,
): Promise<ActionRecord> {
  const { cluster, era, kind } = action.key;
  const c = Number(cluster);
  const e = era === null ? null : Number(era);
  const resumed = store.action(c, e, kind)?.state === "decided";
  const record = store.decide({
    cluster: c,
    era: e,
    kind,
    executor: executorOf(target),
    evidenceHash: evidence?.hash ?? null,
    evidence: evidence?.json ?? null,
  });
  if (record.state !== "decided") return record;
  switch (target.kind) {
    case "governor": {
      const outcome = await proposeOnce(
        target.governor.connect(target.bot),
        toProposal(action, await target.bot.getAddress()),
        {
          fromBlock: target.fromBlock,
        },
      );
      failpoint("action-sent");
      return recorded(store.advance(c, e, kind, "proposed", outcome.id.toString()));
    }
    case "safe": {
      const bot = getAddress(await target.bot.getAddress());
      const isOwner = async () => (await target.queue.owners()).includes(bot);
      const same = (await target.queue.list()).filter((t) => {
        const k = t.description === undefined ? undefined : parseActionKey(t.description);
        return k !== undefined && sameKey(k, action.key);
      });
      const live = same.find((t) => t.status !== "stale");
      if (live !== undefined) {
        // Stored with no signature at all (its proposer stopped before signing): the bot signs it
        // now, if it is an owner. One another owner signed already is theirs to complete.
        const entry = await target.queue.entry(live.safeTxHash);
        if (Object.keys(entry.signatures).length === 0 && (await isOwner())) {
          refuseUnsafe(target, entry.data, storedRefusal("sign", live.safeTxHash, target.queue.safe, entry.data.nonce));
          const signature = await signSafeTx(target.bot, target.chainId, target.queue.safe, entry.data);
          await target.queue.addSignature(live.safeTxHash, bot, signature);
        }
        return recorded(store.advance(c, e, kind, "awaiting-signatures", live.safeTxHash));
      }
      // Already executed (the store forgot): done, not again.
      for (const t of same) {
        if (await target.queue.wasExecuted(t.safeTxHash)) {
          return recorded(store.advance(c, e, kind, "executed", t.safeTxHash));
        }
      }
      // The bot signs what it proposes: it must be an owner (else nothing is stored).
      if (!(await isOwner())) {
        throw new Error(
          `the bot's key ${bot} is not an owner of the Safe ${target.queue.safe}: it cannot propose to it`,
        );
      }
      const data = await buildSafeTxData(
        target.connection,
        target.botKey,
        action.calls.map((x) => ({ to: x.target, data: x.data, value: x.value })),
        await target.queue.nextNonce(),
      );
      refuseUnsafe(
        target,
        data,
        (problems) =>
          `the Safe transaction built for ${formatActionKey(action.key)} is refused: ${problems}. ` +
          "check the deployment record's MultiSendCallOnly: it is the one a batch goes through",
      );
      const tx = await target.queue.propose(data, describeAction(action));
      await target.queue.addSignature(
        tx.safeTxHash,
        bot,
        await signSafeTx(target.bot, target.chainId, target.queue.safe, data),
      );
      failpoint("action-sent");
      return recorded(store.advance(c, e, kind, "awaiting-signatures", tx.safeTxHash));
    }
    case "operator": {
      // An era distributed already (by another operator, or the manager): done, not again.
      if (kind === "distribution" && era !== null && (await distributedBeyond(target, action)) > era) {
        return recorded(store.advance(c, e, kind, "executed"));
      }
      // Resumed after a stop: the calls whose event is on chain already are not sent again.
      const found = resumed ? await doneOnChain(target, action) : [];
      let last = found.at(-1) ?? "";
      for (const call of action.calls.slice(found.length)) {
        try {
          const response = await target.bot.sendTransaction({ to: call.target, data: call.data, value: call.value });
          await response.wait();
          last = response.hash;
        } catch (error) {
          // The call reverts (in simulation, or mined): it cannot be carried out as it stands.
          // Recorded as failed (the era goes on: the next actions are not held back); any other
          // error (the node away) leaves it to the next run.
          if (isRevert(error)) return store.advance(c, e, kind, "failed", last === "" ? undefined : last);
          throw error;
        }
      }
      failpoint("action-sent");
      return recorded(store.advance(c, e, kind, "executed", last));
    }
  }
}

/** The event each call of a routine action emits, with (cluster, era) indexed and the evidence hash first in its data. */
const EVENT_OF: Partial<Record<ActionKind, string>> = {
  "usage-report": "UsageReported",
  distribution: "RevenuesDistributed",
};
const CORE_EVENTS = IDDC__factory.createInterface();

/** The cluster's next era to distribute, as the core says. */
async function distributedBeyond(
  target: Extract<Target, { kind: "operator" }>,
  action: ManagerAction,
): Promise<bigint> {
  const core = IDDC__factory.connect(action.calls[0].target, target.bot);
  return (await core.clusterRevenue(action.key.cluster)).nextEra;
}

/**
 * The transactions that already carried out the first calls of an operator's action (its events
 * on chain: same cluster, era and evidence hash, in order). Settlements have no such mark and are
 * sent again (settling twice only settles what accrued in between).
 */
async function doneOnChain(target: Extract<Target, { kind: "operator" }>, action: ManagerAction): Promise<string[]> {
  const name = EVENT_OF[action.key.kind];
  const provider = target.bot.provider;
  if (name === undefined || action.key.era === null || action.evidenceHash === undefined || provider == null) return [];
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
    target.fromBlock ?? 0,
    await provider.getBlockNumber(),
  );
  return logs
    .filter((l) => l.data.slice(0, 66).toLowerCase() === action.evidenceHash!.toLowerCase())
    .map((l) => l.transactionHash)
    .slice(0, action.calls.length);
}

/**
 * The keeper: moves every open action on. A succeeded proposal is queued, a queued one executed
 * once the Timelock allows; a defeated, cancelled or expired one is recorded as such. A Safe
 * transaction that reached its threshold is executed; one whose nonce was used by another is
 * recorded as cancelled.
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
    if (a.executor !== executorOf(target) || a.ref === null) continue;
    if (options.cluster !== undefined && a.cluster !== options.cluster) continue;
    try {
      const next = await keepOne(store, target, now, a);
      if (next !== undefined) moved.push(next);
    } catch (error) {
      if (options.onError === undefined) throw error;
      if (isRevert(error) && (a.state === "queued" || a.state === "awaiting-signatures" || a.state === "proposed")) {
        moved.push(store.advance(a.cluster, a.era, a.kind, "failed"));
      }
      options.onError(a, error);
    }
  }
  return moved;
}

async function keepOne(
  store: BotStore,
  target: Target,
  now: () => Promise<bigint>,
  a: ActionRecord,
): Promise<ActionRecord | undefined> {
  const ref = a.ref!;
  if (target.kind === "governor") {
    const governor = target.governor.connect(target.bot);
    const id = BigInt(ref);
    const state = await proposalState(governor, id);
    if (state === "Succeeded" && a.state === "proposed") {
      await queueById(governor, id, { fromBlock: target.fromBlock });
      failpoint("keeper-sent");
      return store.advance(a.cluster, a.era, a.kind, "queued");
    }
    if (state === "Queued" && (await governor.proposalEta(id)) <= (await now())) {
      if (a.state === "proposed") store.advance(a.cluster, a.era, a.kind, "queued");
      await executeById(governor, id, { fromBlock: target.fromBlock });
      failpoint("keeper-sent");
      return store.advance(a.cluster, a.era, a.kind, "executed");
    }
    if (state === "Executed") return store.advance(a.cluster, a.era, a.kind, "executed");
    if (state === "Defeated" || state === "Canceled" || state === "Expired") {
      const to = state === "Defeated" ? "defeated" : state === "Canceled" ? "cancelled" : "expired";
      return store.advance(a.cluster, a.era, a.kind, to);
    }
  } else if (target.kind === "safe") {
    const entry = await target.queue.entry(ref);
    if (entry.status === "executable") {
      refuseUnsafe(target, entry.data, storedRefusal("execute", ref, target.queue.safe, entry.data.nonce));
      await target.queue.executeWith(target.bot, ref);
      failpoint("keeper-sent");
      return store.advance(a.cluster, a.era, a.kind, "executed");
    }
    if (entry.status === "stale") {
      // Its nonce is used: by this very transaction (someone executed it), or by another one.
      const executed = await target.queue.wasExecuted(ref);
      return store.advance(a.cluster, a.era, a.kind, executed ? "executed" : "cancelled");
    }
  }
  return undefined;
}

/**
 * Rebuilds the store's view of a cluster's live actions from the chain and the Safe store (after
 * the store was lost): every proposal or Safe transaction of the bot that carries an action key of
 * the cluster and is still live is recorded with its state, unless the store knows it already. The
 * keeper then moves them on, and nothing is proposed twice. Returns what was adopted.
 */
export async function adoptOpen(store: BotStore, target: Target, cluster: number): Promise<ActionRecord[]> {
  const adopted: ActionRecord[] = [];
  const adopt = (description: string, state: "proposed" | "queued" | "awaiting-signatures", ref: string) => {
    const key = parseActionKey(description);
    if (key === undefined || Number(key.cluster) !== cluster) return;
    const era = key.era === null ? null : Number(key.era);
    if (store.action(cluster, era, key.kind) !== undefined) return;
    store.decide({
      cluster,
      era,
      kind: key.kind,
      executor: executorOf(target),
      evidenceHash: parseEvidence(description) ?? null,
      evidence: null,
    });
    store.advance(cluster, era, key.kind, state === "queued" ? "proposed" : state, ref);
    adopted.push(
      state === "queued" ? store.advance(cluster, era, key.kind, "queued") : store.action(cluster, era, key.kind)!,
    );
  };
  if (target.kind === "governor") {
    const governor = target.governor.connect(target.bot);
    const bot = await target.bot.getAddress();
    for (const p of await listProposals(governor, { fromBlock: target.fromBlock })) {
      if (p.proposer.toLowerCase() !== bot.toLowerCase()) continue;
      const state = await proposalState(governor, p.id);
      if (state === "Pending" || state === "Active" || state === "Succeeded")
        adopt(p.description, "proposed", p.id.toString());
      else if (state === "Queued") adopt(p.description, "queued", p.id.toString());
    }
  } else if (target.kind === "safe") {
    for (const t of await target.queue.list()) {
      if (t.status !== "stale" && t.description !== undefined)
        adopt(t.description, "awaiting-signatures", t.safeTxHash);
    }
  }
  return adopted;
}
