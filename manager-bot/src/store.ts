import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { getAddress } from "ethers";
import type { ActionKind, Call } from "../../governance/actions";
import type { SignedReport } from "./report";
import type { ReportBook } from "./validate";

/**
 * The bot's embedded store (SQLite through better-sqlite3): every accepted report (never lost),
 * the equivocations, every action's state with its evidence hash, and the evidence documents,
 * each once by hash (the bot publishes them), so that a restart resumes where the bot stopped.
 * The schema is versioned: migrations run in order, once, in a transaction.
 */

/** An action's life. Terminal: executed, defeated, cancelled, expired, failed. */
export const ACTION_STATES = [
  "decided",
  "proposed",
  "awaiting-signatures",
  "queued",
  "executed",
  "defeated",
  "cancelled",
  "expired",
  "failed",
] as const;
export type ActionState = (typeof ACTION_STATES)[number];

const NEXT: Record<ActionState, ActionState[]> = {
  decided: ["proposed", "awaiting-signatures", "executed", "failed", "cancelled"],
  proposed: ["queued", "executed", "defeated", "cancelled", "expired", "failed"],
  "awaiting-signatures": ["executed", "cancelled", "failed"],
  queued: ["executed", "cancelled", "expired", "failed"],
  executed: [],
  defeated: [],
  cancelled: [],
  expired: [],
  failed: [],
};

export type Executor = "governor" | "safe" | "operator";

export interface ActionRecord {
  cluster: number;
  era: number | null;
  kind: ActionKind;
  state: ActionState;
  executor: Executor;
  /** The proposal id, Safe transaction hash or transaction hash, once there is one. */
  ref: string | null;
  evidenceHash: string | null;
  evidence: string | null;
  /** The calls decided (null for an action recorded before they were kept). */
  calls: Call[] | null;
  updatedAt: number;
}

const callsToJson = (calls: readonly Call[]) =>
  JSON.stringify(calls.map((c) => ({ target: c.target, value: c.value.toString(), data: c.data })));
const callsFromJson = (json: string): Call[] =>
  (JSON.parse(json) as { target: string; value: string; data: string }[]).map((c) => ({
    ...c,
    value: BigInt(c.value),
  }));

/** A node's score in an era, as the era's evidence states it (`aggregation.scores`). */
export interface NodeScore {
  node: number;
  score: number;
}

/** A decided era's node scores (node order), and the evidence they come from. */
export interface EraScores {
  cluster: number;
  era: number;
  evidenceHash: string;
  scores: NodeScore[];
}

/** The scores an evidence document states; none when it states none (a document of another shape). */
function scoresOfDocument(json: string): NodeScore[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const scores = (doc as { aggregation?: { scores?: unknown } } | null)?.aggregation?.scores;
  if (!Array.isArray(scores)) return [];
  return (scores as Partial<NodeScore>[]).filter(
    (x): x is NodeScore => Number.isSafeInteger(x?.node) && typeof x?.score === "number",
  );
}

function insertScores(db: Database.Database, cluster: number, era: number, scores: NodeScore[]): void {
  const insert = db.prepare("INSERT OR IGNORE INTO era_scores (cluster, era, node, score) VALUES (?, ?, ?, ?)");
  for (const x of scores) insert.run(cluster, era, x.node, x.score);
}

/** A schema step: SQL, or a function when rows must be read and rewritten. */
type Migration = string | ((db: Database.Database) => void);

const MIGRATIONS: Migration[] = [
  // 1: reports and equivocations
  `CREATE TABLE reports (
     cluster INTEGER NOT NULL, era INTEGER NOT NULL, validator TEXT NOT NULL,
     digest TEXT NOT NULL, json TEXT NOT NULL, received_at INTEGER NOT NULL,
     PRIMARY KEY (cluster, era, validator));
   CREATE TABLE equivocations (
     cluster INTEGER NOT NULL, era INTEGER NOT NULL, validator TEXT NOT NULL, at INTEGER NOT NULL,
     PRIMARY KEY (cluster, era, validator));`,
  // 2: actions, one per action key
  `CREATE TABLE actions (
     cluster INTEGER NOT NULL, era INTEGER NOT NULL, kind TEXT NOT NULL,
     state TEXT NOT NULL, executor TEXT NOT NULL, ref TEXT, evidence_hash TEXT, evidence TEXT,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (cluster, era, kind));
   CREATE INDEX actions_state ON actions (state);`,
  // 3: eras, decided (with the evidence, written before any action is carried out) or skipped
  `CREATE TABLE eras (
     cluster INTEGER NOT NULL, era INTEGER NOT NULL, status TEXT NOT NULL,
     evidence_hash TEXT, evidence TEXT, reason TEXT, carried INTEGER NOT NULL DEFAULT 0,
     at INTEGER NOT NULL,
     PRIMARY KEY (cluster, era));`,
  // 4: the per-cluster pause switch
  `CREATE TABLE pauses (cluster INTEGER PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL);`,
  // 5: the process that runs the bot on this store
  `CREATE TABLE runner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, at INTEGER NOT NULL);`,
  // 6: the evidence documents once each, by hash (an era's and each of its actions' rows held a
  // copy), and each decided era's node scores (the history, read without parsing documents)
  (db) => {
    db.exec(`CREATE TABLE evidence (hash TEXT PRIMARY KEY, json TEXT NOT NULL, at INTEGER);
      CREATE TABLE era_scores (
        cluster INTEGER NOT NULL, era INTEGER NOT NULL, node INTEGER NOT NULL, score INTEGER NOT NULL,
        PRIMARY KEY (cluster, era, node));
      INSERT OR IGNORE INTO evidence (hash, json, at)
        SELECT evidence_hash, evidence, at FROM eras
        WHERE evidence_hash IS NOT NULL AND evidence IS NOT NULL ORDER BY at, cluster, era;
      INSERT OR IGNORE INTO evidence (hash, json, at)
        SELECT evidence_hash, evidence, updated_at FROM actions
        WHERE evidence_hash IS NOT NULL AND evidence IS NOT NULL ORDER BY updated_at, cluster, era, kind;`);
    // One document in memory at a time (an era's may be tens of MiB).
    const decided = db
      .prepare("SELECT cluster, era FROM eras WHERE status = 'decided' AND evidence IS NOT NULL ORDER BY cluster, era")
      .all() as { cluster: number; era: number }[];
    const document = db.prepare("SELECT evidence FROM eras WHERE cluster = ? AND era = ?").pluck();
    for (const e of decided)
      insertScores(db, e.cluster, e.era, scoresOfDocument(document.get(e.cluster, e.era) as string));
    db.exec("ALTER TABLE eras DROP COLUMN evidence; ALTER TABLE actions DROP COLUMN evidence;");
  },
  // 7: the calls each action was decided to make (what a proposal or Safe transaction under its key must be)
  `ALTER TABLE actions ADD COLUMN calls TEXT;`,
  // 8: the first era the bot answers for in each cluster (set once, at its first run there): every
  // era from it on is decided or recorded as skipped, none is passed over
  `CREATE TABLE starts (cluster INTEGER PRIMARY KEY, era INTEGER NOT NULL, at INTEGER NOT NULL);`,
];

/**
 * An era of a cluster as the bot closed it: decided (its evidence is kept; `carried` once every
 * action it led to was carried out) or skipped (by policy, or because it could not be decided).
 */
export interface EraRecord {
  cluster: number;
  era: number;
  status: "decided" | "skipped";
  evidenceHash: string | null;
  evidence: string | null;
  reason: string | null;
  carried: boolean;
  at: number;
}

/** An `eras` row with its document (`ERA_COLUMNS`). */
interface EraRow {
  cluster: number;
  era: number;
  status: "decided" | "skipped";
  evidence_hash: string | null;
  evidence: string | null;
  reason: string | null;
  carried: number;
  at: number;
}

/** An era's columns and its document, from `eras e LEFT JOIN evidence d`. */
const ERA_COLUMNS = "e.*, d.json AS evidence";
const ERAS = "eras e LEFT JOIN evidence d ON d.hash = e.evidence_hash";

const eraRecord = (r: EraRow): EraRecord => ({
  cluster: r.cluster,
  era: r.era,
  status: r.status,
  evidenceHash: r.evidence_hash,
  evidence: r.evidence,
  reason: r.reason,
  carried: r.carried === 1,
  at: r.at,
});

/** Whether a process of this host is alive (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Decided eras: of one cluster before `beforeEra`, or the last `perCluster` of every other cluster. */
export type DecidedQuery =
  { cluster: number; beforeEra: number; limit: number } | { otherThan: number; perCluster: number };

/** `era` null (an action about no era) is kept as -1 in the key. */
const eraKey = (era: number | null) => (era === null ? -1 : era);

export class BotStore implements ReportBook {
  private readonly db: Database.Database;

  /** `file`: a path, ":memory:", or a serialised store (an in-memory copy of it). */
  constructor(
    file: string | Buffer,
    private readonly clock: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    if (typeof file === "string" && file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.migrate();
  }

  /** The schema version (the number of migrations applied). */
  get version(): number {
    return this.db.pragma("user_version", { simple: true }) as number;
  }

  private migrate(): void {
    const from = this.version;
    if (from > MIGRATIONS.length) {
      throw new Error(`the store is at schema ${from}, this bot knows ${MIGRATIONS.length}: upgrade the bot`);
    }
    for (let v = from; v < MIGRATIONS.length; v++) {
      const step = MIGRATIONS[v];
      this.db.transaction(() => {
        if (typeof step === "string") this.db.exec(step);
        else step(this.db);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Keeps a document once, by its hash (which the caller computed: nothing is hashed here). */
  private keepEvidence(hash: string, json: string): void {
    if (this.db.prepare("SELECT 1 FROM evidence WHERE hash = ?").get(hash) !== undefined) return;
    this.db.prepare("INSERT INTO evidence (hash, json, at) VALUES (?, ?, ?)").run(hash, json, this.clock());
  }

  /** The evidence document of `hash`, as it was hashed; undefined if the store has none. */
  evidence(hash: string): string | undefined {
    return this.db.prepare("SELECT json FROM evidence WHERE hash = ?").pluck().get(hash) as string | undefined;
  }

  close(): void {
    this.db.close();
  }

  // ─────────────────────────────────────── reports ───────────────────────────────────────

  async recorded(cluster: number, era: number, validator: string): Promise<string | "equivocated" | undefined> {
    const v = getAddress(validator);
    if (
      this.db
        .prepare("SELECT 1 FROM equivocations WHERE cluster = ? AND era = ? AND validator = ?")
        .get(cluster, era, v)
    ) {
      return "equivocated";
    }
    const row = this.db
      .prepare("SELECT digest FROM reports WHERE cluster = ? AND era = ? AND validator = ?")
      .get(cluster, era, v) as { digest: string } | undefined;
    return row?.digest;
  }

  async accept(report: SignedReport, digest: string): Promise<void> {
    this.db
      .prepare("INSERT INTO reports (cluster, era, validator, digest, json, received_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(
        report.report.cluster,
        report.report.era,
        getAddress(report.validator),
        digest,
        JSON.stringify(report),
        this.clock(),
      );
  }

  async equivocate(cluster: number, era: number, validator: string): Promise<void> {
    this.db
      .prepare("INSERT OR IGNORE INTO equivocations (cluster, era, validator, at) VALUES (?, ?, ?, ?)")
      .run(cluster, era, getAddress(validator), this.clock());
  }

  /** The reports that count for (cluster, era): accepted and not equivocated (kept either way). */
  reportsFor(cluster: number, era: number): SignedReport[] {
    const rows = this.db
      .prepare(
        `SELECT json FROM reports r WHERE cluster = ? AND era = ? AND NOT EXISTS
           (SELECT 1 FROM equivocations e WHERE e.cluster = r.cluster AND e.era = r.era AND e.validator = r.validator)
         ORDER BY validator`,
      )
      .all(cluster, era) as { json: string }[];
    return rows.map((r) => JSON.parse(r.json) as SignedReport);
  }

  // ─────────────────────────────────────── actions ───────────────────────────────────────

  action(cluster: number, era: number | null, kind: ActionKind): ActionRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT a.*, d.json AS evidence FROM actions a LEFT JOIN evidence d ON d.hash = a.evidence_hash
         WHERE a.cluster = ? AND a.era = ? AND a.kind = ?`,
      )
      .get(cluster, eraKey(era), kind) as
      | {
          cluster: number;
          era: number;
          kind: ActionKind;
          state: ActionState;
          executor: Executor;
          ref: string | null;
          evidence_hash: string | null;
          evidence: string | null;
          calls: string | null;
          updated_at: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      cluster: row.cluster,
      era: row.era === -1 ? null : row.era,
      kind: row.kind,
      state: row.state,
      executor: row.executor,
      ref: row.ref,
      evidenceHash: row.evidence_hash,
      evidence: row.evidence,
      calls: row.calls === null ? null : callsFromJson(row.calls),
      updatedAt: row.updated_at,
    };
  }

  /**
   * Records a decided action once: a second decision for the same key keeps the first. Its
   * evidence document is kept by hash (once, whichever action or era brought it first).
   */
  decide(a: {
    cluster: number;
    era: number | null;
    kind: ActionKind;
    executor: Executor;
    evidenceHash: string | null;
    evidence: string | null;
    calls?: readonly Call[] | null;
  }): ActionRecord {
    this.db.transaction(() => {
      const added = this.db
        .prepare(
          `INSERT OR IGNORE INTO actions (cluster, era, kind, state, executor, ref, evidence_hash, calls, updated_at)
           VALUES (?, ?, ?, 'decided', ?, NULL, ?, ?, ?)`,
        )
        .run(
          a.cluster,
          eraKey(a.era),
          a.kind,
          a.executor,
          a.evidenceHash,
          a.calls == null ? null : callsToJson(a.calls),
          this.clock(),
        );
      if (added.changes > 0 && a.evidenceHash !== null && a.evidence !== null) {
        this.keepEvidence(a.evidenceHash, a.evidence);
      }
    })();
    return this.action(a.cluster, a.era, a.kind)!;
  }

  /** Moves an action on; refuses a move its life does not allow (e.g. executed → proposed). */
  advance(cluster: number, era: number | null, kind: ActionKind, to: ActionState, ref?: string): ActionRecord {
    const current = this.action(cluster, era, kind);
    if (current === undefined) throw new Error(`no action (${cluster}, ${era ?? "-"}, ${kind})`);
    if (!NEXT[current.state].includes(to)) {
      throw new Error(`action (${cluster}, ${era ?? "-"}, ${kind}) cannot go from ${current.state} to ${to}`);
    }
    this.db
      .prepare(
        "UPDATE actions SET state = ?, ref = COALESCE(?, ref), updated_at = ? WHERE cluster = ? AND era = ? AND kind = ?",
      )
      .run(to, ref ?? null, this.clock(), cluster, eraKey(era), kind);
    return this.action(cluster, era, kind)!;
  }

  // ──────────────────────────────────────── eras ─────────────────────────────────────────

  /**
   * Records an era's decision (its evidence, kept once by hash, and its node scores) before its
   * actions are carried out, once: a restart carries out the same decision instead of deciding
   * again from a later snapshot. `scores` are the document's `aggregation.scores` (read from the
   * document when not given).
   */
  decideEra(cluster: number, era: number, evidenceHash: string, evidence: string, scores?: NodeScore[]): EraRecord {
    this.db.transaction(() => {
      const added = this.db
        .prepare(
          `INSERT OR IGNORE INTO eras (cluster, era, status, evidence_hash, reason, carried, at)
           VALUES (?, ?, 'decided', ?, NULL, 0, ?)`,
        )
        .run(cluster, era, evidenceHash, this.clock());
      if (added.changes === 0) return;
      this.keepEvidence(evidenceHash, evidence);
      insertScores(this.db, cluster, era, scores ?? scoresOfDocument(evidence));
    })();
    return this.era(cluster, era)!;
  }

  /** Marks a decided era's actions as all carried out. */
  carried(cluster: number, era: number): void {
    this.db.prepare("UPDATE eras SET carried = 1 WHERE cluster = ? AND era = ?").run(cluster, era);
  }

  /** Records an era as skipped, with why (an era already recorded is kept). */
  skipEra(cluster: number, era: number, reason: string): EraRecord {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO eras (cluster, era, status, evidence_hash, reason, carried, at)
         VALUES (?, ?, 'skipped', NULL, ?, 1, ?)`,
      )
      .run(cluster, era, reason, this.clock());
    return this.era(cluster, era)!;
  }

  era(cluster: number, era: number): EraRecord | undefined {
    const row = this.db
      .prepare(`SELECT ${ERA_COLUMNS} FROM ${ERAS} WHERE e.cluster = ? AND e.era = ?`)
      .get(cluster, era) as EraRow | undefined;
    return row === undefined ? undefined : eraRecord(row);
  }

  /**
   * The first era the bot answers for in the cluster: set once (a later call keeps the first) and
   * returned; with `era` undefined, only read (null before the first run).
   */
  startEra(cluster: number, era?: number): number | null {
    if (era !== undefined) {
      this.db
        .prepare("INSERT OR IGNORE INTO starts (cluster, era, at) VALUES (?, ?, ?)")
        .run(cluster, era, this.clock());
    }
    const row = this.db.prepare("SELECT era FROM starts WHERE cluster = ?").get(cluster) as { era: number } | undefined;
    return row?.era ?? null;
  }

  /** The cluster's last `limit` eras decided or skipped, newest first (`evidence` null: documents are not read). */
  recentEras(cluster: number, limit: number): EraRecord[] {
    const rows = this.db
      .prepare("SELECT *, NULL AS evidence FROM eras WHERE cluster = ? ORDER BY era DESC LIMIT ?")
      .all(cluster, limit) as EraRow[];
    return rows.map(eraRecord);
  }

  /** The last era of the cluster the bot decided or skipped, if any. */
  lastEra(cluster: number): number | null {
    const row = this.db.prepare("SELECT MAX(era) AS era FROM eras WHERE cluster = ?").get(cluster) as {
      era: number | null;
    };
    return row.era;
  }

  /**
   * Decided eras, newest first: of one cluster before `beforeEra`, or (with `otherThan`) of every
   * other cluster, at most `perCluster` each.
   */
  decidedEras(q: DecidedQuery): EraRecord[] {
    const byKey = this.db.prepare(`SELECT ${ERA_COLUMNS} FROM ${ERAS} WHERE e.cluster = ? AND e.era = ?`);
    return this.decidedKeys(q).map((k) => eraRecord(byKey.get(k.cluster, k.era) as EraRow));
  }

  /**
   * The node scores of the decided eras `decidedEras` lists, in its order, with their evidence
   * hashes: the history the bot decides on, without reading any document.
   */
  decidedScores(q: DecidedQuery): EraScores[] {
    const scores = this.db.prepare("SELECT node, score FROM era_scores WHERE cluster = ? AND era = ? ORDER BY node");
    return this.decidedKeys(q).map((k) => ({
      cluster: k.cluster,
      era: k.era,
      evidenceHash: k.evidence_hash,
      scores: scores.all(k.cluster, k.era) as NodeScore[],
    }));
  }

  private decidedKeys(q: DecidedQuery): { cluster: number; era: number; evidence_hash: string }[] {
    return "cluster" in q
      ? (this.db
          .prepare(
            `SELECT cluster, era, evidence_hash FROM eras WHERE cluster = ? AND era < ? AND status = 'decided'
             ORDER BY era DESC LIMIT ?`,
          )
          .all(q.cluster, q.beforeEra, q.limit) as { cluster: number; era: number; evidence_hash: string }[])
      : (this.db
          .prepare(
            `SELECT cluster, era, evidence_hash FROM
               (SELECT *, ROW_NUMBER() OVER (PARTITION BY cluster ORDER BY era DESC) AS n
                FROM eras WHERE cluster != ? AND status = 'decided')
             WHERE n <= ? ORDER BY cluster, era DESC`,
          )
          .all(q.otherThan, q.perCluster) as { cluster: number; era: number; evidence_hash: string }[]);
  }

  /** Decided eras whose actions were not all carried out (a stop in between): resumed first. */
  uncarried(cluster: number): EraRecord[] {
    const rows = this.db
      .prepare(
        `SELECT ${ERA_COLUMNS} FROM ${ERAS} WHERE e.cluster = ? AND e.status = 'decided' AND e.carried = 0 ORDER BY e.era`,
      )
      .all(cluster) as EraRow[];
    return rows.map(eraRecord);
  }

  // ─────────────────────────────────────── runner ────────────────────────────────────────

  /**
   * Makes this process the one that runs the bot on this store: two would both act on one
   * decision. Refused while another live process on this host holds it (or one on another host:
   * a store is not shared between machines); a dead process's claim is taken over.
   */
  claim(pid = process.pid): void {
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT pid, host FROM runner WHERE id = 1").get() as
        { pid: number; host: string } | undefined;
      if (row !== undefined && !(row.pid === pid && row.host === hostname())) {
        if (row.host !== hostname()) {
          throw new Error(`the store is run by a bot on ${row.host} (pid ${row.pid}): a store belongs to one machine`);
        }
        if (alive(row.pid)) {
          throw new Error(
            `another bot process (pid ${row.pid}) runs on this store: stop it first (its pause and status commands work meanwhile)`,
          );
        }
      }
      this.db
        .prepare("INSERT OR REPLACE INTO runner (id, pid, host, at) VALUES (1, ?, ?, ?)")
        .run(pid, hostname(), this.clock());
    })();
  }

  /**
   * An in-memory copy of the whole store, to run on without touching the original (a dry run
   * goes the same path as a run, on a copy).
   */
  copy(): BotStore {
    return new BotStore(this.db.serialize(), this.clock);
  }

  /** Gives up this process's claim. */
  release(pid = process.pid): void {
    this.db.prepare("DELETE FROM runner WHERE id = 1 AND pid = ? AND host = ?").run(pid, hostname());
  }

  // ─────────────────────────────────────── pauses ────────────────────────────────────────

  /** Pauses the bot's work on a cluster (kept across restarts; any process sharing the store sees it). */
  pause(cluster: number, reason: string): void {
    this.db
      .prepare("INSERT OR REPLACE INTO pauses (cluster, reason, at) VALUES (?, ?, ?)")
      .run(cluster, reason, this.clock());
  }

  /** Resumes a paused cluster; false if it was not paused. */
  resume(cluster: number): boolean {
    return this.db.prepare("DELETE FROM pauses WHERE cluster = ?").run(cluster).changes > 0;
  }

  /** The paused clusters, with why and since when. */
  paused(): Map<number, { reason: string; at: number }> {
    const rows = this.db.prepare("SELECT cluster, reason, at FROM pauses ORDER BY cluster").all() as {
      cluster: number;
      reason: string;
      at: number;
    }[];
    return new Map(rows.map((r) => [r.cluster, { reason: r.reason, at: r.at }]));
  }

  /** How many actions are in each state (every state listed). */
  countByState(): Record<ActionState, number> {
    const counts = Object.fromEntries(ACTION_STATES.map((st) => [st, 0])) as Record<ActionState, number>;
    const rows = this.db.prepare("SELECT state, COUNT(*) AS n FROM actions GROUP BY state").all() as {
      state: ActionState;
      n: number;
    }[];
    for (const r of rows) counts[r.state] = r.n;
    return counts;
  }

  /** Actions not in a terminal state: what a restarted bot resumes. */
  open(): ActionRecord[] {
    const keys = this.db
      .prepare(
        "SELECT cluster, era, kind FROM actions WHERE state IN ('decided', 'proposed', 'awaiting-signatures', 'queued') ORDER BY cluster, era, kind",
      )
      .all() as { cluster: number; era: number; kind: ActionKind }[];
    return keys.map((k) => this.action(k.cluster, k.era === -1 ? null : k.era, k.kind)!);
  }
}
