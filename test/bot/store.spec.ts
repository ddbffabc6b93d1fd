import { expect } from "chai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Wallet, getAddress } from "ethers";
import { candidateScores, historyFromStore } from "../../manager-bot/src/bot";
import { signReport, reportDigest } from "../../manager-bot/src/report";
import { BotStore } from "../../manager-bot/src/store";
import type { ActionKind } from "../../governance/actions";
import { validateReport, type ChainView } from "../../manager-bot/src/validate";

const CORE = getAddress("0x00000000000000000000000000000000000c0de1");
const v1 = new Wallet("0x" + "61".padStart(64, "0"));
const chain: ChainView = {
  chainId: 31337,
  core: CORE,
  eraEnd: async () => 100n,
  validatorsAt: async () => new Set([getAddress(v1.address)]),
  now: async () => 200n,
};
const body = (score: number) => ({
  cluster: 1,
  era: 3,
  nodes: [{ node: 1, availabilityBps: 10_000, latencyMs: 5, retrievable: true, score }],
  buckets: [],
});
const file = () => join(mkdtempSync(join(tmpdir(), "ddc-store-")), "bot.sqlite");

describe("manager bot: the SQLite store", function () {
  it("migrates once, to the current version, and refuses a newer store", function () {
    const path = file();
    const store = new BotStore(path);
    expect(store.version).to.equal(8);
    store.close();
    const again = new BotStore(path);
    expect(again.version).to.equal(8);
    again.close();
    const db = new Database(path);
    db.pragma("user_version = 9");
    db.close();
    expect(() => new BotStore(path)).to.throw("the store is at schema 9, this bot knows 8: upgrade the bot");
  });

  it("is a report book: accepted reports survive a restart; equivocation drops both", async function () {
    const path = file();
    let store = new BotStore(path);
    const r = await signReport(v1, 31337, CORE, body(9000));
    expect((await validateReport(r, chain, store)).status).to.equal("accepted");
    store.close();
    store = new BotStore(path);
    expect(store.reportsFor(1, 3)).to.deep.equal([r]);
    expect(await validateReport(r, chain, store)).to.deep.include({ reason: "duplicate" });
    expect(await store.recorded(1, 3, v1.address)).to.equal(reportDigest(31337, CORE, r.report));
    expect(await validateReport(await signReport(v1, 31337, CORE, body(1)), chain, store)).to.deep.include({
      reason: "equivocation",
    });
    expect(store.reportsFor(1, 3)).to.deep.equal([]);
    expect(await store.recorded(1, 3, v1.address)).to.equal("equivocated");
    // Once the bot has closed the era (decided or skipped), a report for it is late, and says why.
    store.skipEra(1, 3, "no quorum");
    expect(await validateReport(await signReport(v1, 31337, CORE, body(9000)), chain, store)).to.deep.include({
      status: "rejected",
      reason: "late",
      detail: "era 3 of cluster 1 is closed: the bot has decided up to era 3",
    });
    store.close();
  });

  it("keeps each action's state, once per key, through its life; a restart resumes the open ones", function () {
    const path = file();
    let clock = 1000;
    let store = new BotStore(path, () => clock);
    const first = store.decide({
      cluster: 1,
      era: 3,
      kind: "distribution",
      executor: "governor",
      evidenceHash: "0xabc",
      evidence: "{}",
    });
    expect(first).to.deep.include({ state: "decided", ref: null, updatedAt: 1000 });
    // The same decision again (a replica, a restart): the first is kept.
    expect(
      store.decide({
        cluster: 1,
        era: 3,
        kind: "distribution",
        executor: "safe",
        evidenceHash: "0xdef",
        evidence: "{}",
      }),
    ).to.deep.include({
      executor: "governor",
      evidenceHash: "0xabc",
    });
    clock = 2000;
    expect(store.advance(1, 3, "distribution", "proposed", "42")).to.deep.include({
      state: "proposed",
      ref: "42",
      updatedAt: 2000,
    });
    store.decide({
      cluster: 1,
      era: null,
      kind: "parameters",
      executor: "operator",
      evidenceHash: null,
      evidence: null,
    });
    store.close();
    store = new BotStore(path, () => clock);
    expect(store.open().map((a) => [a.kind, a.state, a.era])).to.deep.equal([
      ["parameters", "decided", null],
      ["distribution", "proposed", 3],
    ]);
    store.advance(1, 3, "distribution", "queued");
    store.advance(1, 3, "distribution", "executed");
    expect(() => store.advance(1, 3, "distribution", "proposed")).to.throw(
      "action (1, 3, distribution) cannot go from executed to proposed",
    );
    expect(() => store.advance(9, 1, "distribution", "proposed")).to.throw("no action (9, 1, distribution)");
    expect(store.open().map((a) => a.kind)).to.deep.equal(["parameters"]);
    store.close();
  });

  it("keeps the first era the bot answers for once per cluster, and lists the recent eras newest first", function () {
    const path = file();
    let store = new BotStore(path, () => 700);
    expect(store.startEra(1)).to.equal(null);
    expect(store.startEra(1, 553)).to.equal(553);
    // A later call keeps the first start, across a restart.
    expect(store.startEra(1, 556)).to.equal(553);
    expect(store.startEra(2, 9)).to.equal(9);
    store.close();
    store = new BotStore(path, () => 800);
    expect(store.startEra(1)).to.equal(553);
    store.skipEra(1, 553, "no-quorum: 0 of the 2 reports needed after 3 later eras closed");
    store.decideEra(1, 554, "0x54", JSON.stringify({}));
    store.decideEra(1, 555, "0x55", JSON.stringify({}));
    store.decideEra(2, 9, "0x09", JSON.stringify({}));
    expect(store.recentEras(1, 2)).to.deep.equal([
      {
        cluster: 1,
        era: 555,
        status: "decided",
        evidenceHash: "0x55",
        evidence: null,
        reason: null,
        carried: false,
        at: 800,
      },
      {
        cluster: 1,
        era: 554,
        status: "decided",
        evidenceHash: "0x54",
        evidence: null,
        reason: null,
        carried: false,
        at: 800,
      },
    ]);
    expect(store.recentEras(1, 10).map((e) => [e.era, e.status, e.reason])).to.deep.equal([
      [555, "decided", null],
      [554, "decided", null],
      [553, "skipped", "no-quorum: 0 of the 2 reports needed after 3 later eras closed"],
    ]);
    expect(store.recentEras(3, 10)).to.deep.equal([]);
    store.close();
  });

  it("keeps each era once, decided (evidence first, carried later) or skipped, across a restart", function () {
    const path = file();
    let store = new BotStore(path, () => 500);
    expect(store.lastEra(1)).to.equal(null);
    const doc = (n: number) => JSON.stringify({ aggregation: { scores: [{ node: n, score: 9000 }] } });
    expect(store.decideEra(1, 4, "0x04", doc(1))).to.deep.equal({
      cluster: 1,
      era: 4,
      status: "decided",
      evidenceHash: "0x04",
      evidence: doc(1),
      reason: null,
      carried: false,
      at: 500,
    });
    // A second decision for the era keeps the first; skipping a decided era changes nothing.
    expect(store.decideEra(1, 4, "0xff", doc(2)).evidenceHash).to.equal("0x04");
    expect(store.skipEra(1, 4, "late").status).to.equal("decided");
    expect(store.skipEra(1, 5, "no quorum")).to.deep.include({ status: "skipped", reason: "no quorum", carried: true });
    store.decideEra(1, 6, "0x06", doc(1));
    store.decideEra(2, 1, "0x21", doc(3));
    store.decideEra(2, 2, "0x22", doc(3));
    store.decideEra(3, 7, "0x37", doc(4));
    store.close();
    store = new BotStore(path, () => 600);
    expect(store.lastEra(1)).to.equal(6);
    expect(store.uncarried(1).map((e) => e.era)).to.deep.equal([4, 6]);
    store.carried(1, 4);
    expect(store.uncarried(1).map((e) => e.era)).to.deep.equal([6]);
    // One cluster's decided eras before an era, newest first (the skipped one left out)…
    expect(store.decidedEras({ cluster: 1, beforeEra: 7, limit: 5 }).map((e) => e.era)).to.deep.equal([6, 4]);
    expect(store.decidedEras({ cluster: 1, beforeEra: 6, limit: 5 }).map((e) => e.era)).to.deep.equal([4]);
    // …and the other clusters' last ones, at most `perCluster` each.
    expect(store.decidedEras({ otherThan: 1, perCluster: 1 }).map((e) => [e.cluster, e.era])).to.deep.equal([
      [2, 2],
      [3, 7],
    ]);
    store.close();
  });

  it("keeps each evidence document once, by hash, and each decided era's scores beside it", function () {
    const path = file();
    const store = new BotStore(path, () => 700);
    const H = "0x" + "ab".repeat(32);
    const json = JSON.stringify({
      aggregation: {
        scores: [
          { node: 1, score: 9500, eligible: true },
          { node: 3, score: 100, eligible: false },
        ],
      },
    });
    // Two eras (of two clusters) with the same document, and the actions of one of them.
    store.decideEra(1, 4, H, json);
    store.decideEra(2, 9, H, json);
    for (const kind of ["usage-report", "distribution"] as const) {
      store.decide({ cluster: 1, era: 4, kind, executor: "operator", evidenceHash: H, evidence: json });
    }
    expect(store.evidence(H)).to.equal(json);
    expect(store.era(1, 4)!.evidence).to.equal(json);
    expect(store.era(2, 9)!.evidence).to.equal(json);
    expect(store.action(1, 4, "distribution")!.evidence).to.equal(json);
    expect(store.evidence("0x" + "cd".repeat(32))).to.equal(undefined);
    // Given scores are kept as given (the bot has them: the document is not parsed again).
    store.decideEra(1, 5, "0x" + "05".repeat(32), "not JSON", [
      { node: 3, score: 8000 },
      { node: 1, score: 9000 },
    ]);
    // A document that states no scores gives none (one of another shape, a test's "{}").
    store.decideEra(1, 6, "0x" + "06".repeat(32), "{}");
    // A second decision of an era keeps the first one's document and scores.
    store.decideEra(1, 4, "0x" + "ff".repeat(32), JSON.stringify({ aggregation: { scores: [{ node: 1, score: 1 }] } }));
    expect(store.evidence("0x" + "ff".repeat(32))).to.equal(undefined);
    expect(store.decidedScores({ cluster: 1, beforeEra: 9, limit: 5 })).to.deep.equal([
      { cluster: 1, era: 6, evidenceHash: "0x" + "06".repeat(32), scores: [] },
      {
        cluster: 1,
        era: 5,
        evidenceHash: "0x" + "05".repeat(32),
        scores: [
          { node: 1, score: 9000 },
          { node: 3, score: 8000 },
        ],
      },
      {
        cluster: 1,
        era: 4,
        evidenceHash: H,
        scores: [
          { node: 1, score: 9500 },
          { node: 3, score: 100 },
        ],
      },
    ]);
    expect(store.decidedScores({ otherThan: 1, perCluster: 3 }).map((e) => [e.cluster, e.era])).to.deep.equal([[2, 9]]);
    store.close();
    // Stored once, whichever era or action brought it first; nothing else holds a copy.
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT hash, at FROM evidence ORDER BY hash").all()).to.deep.equal([
      { hash: "0x" + "05".repeat(32), at: 700 },
      { hash: "0x" + "06".repeat(32), at: 700 },
      { hash: H, at: 700 },
    ]);
    const columns = (table: string) =>
      (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    expect(columns("eras")).to.not.include("evidence");
    expect(columns("actions")).to.not.include("evidence");
    db.close();
  });

  it("moves the documents of a store of the old layout out of its rows: the same history, the same records", function () {
    const path = file();
    const db = new Database(path);
    // Schema 5, as the bot left it before the evidence table: each row held its whole document.
    db.exec(`CREATE TABLE reports (
       cluster INTEGER NOT NULL, era INTEGER NOT NULL, validator TEXT NOT NULL,
       digest TEXT NOT NULL, json TEXT NOT NULL, received_at INTEGER NOT NULL,
       PRIMARY KEY (cluster, era, validator));
     CREATE TABLE equivocations (
       cluster INTEGER NOT NULL, era INTEGER NOT NULL, validator TEXT NOT NULL, at INTEGER NOT NULL,
       PRIMARY KEY (cluster, era, validator));
     CREATE TABLE actions (
       cluster INTEGER NOT NULL, era INTEGER NOT NULL, kind TEXT NOT NULL,
       state TEXT NOT NULL, executor TEXT NOT NULL, ref TEXT, evidence_hash TEXT, evidence TEXT,
       updated_at INTEGER NOT NULL,
       PRIMARY KEY (cluster, era, kind));
     CREATE INDEX actions_state ON actions (state);
     CREATE TABLE eras (
       cluster INTEGER NOT NULL, era INTEGER NOT NULL, status TEXT NOT NULL,
       evidence_hash TEXT, evidence TEXT, reason TEXT, carried INTEGER NOT NULL DEFAULT 0,
       at INTEGER NOT NULL,
       PRIMARY KEY (cluster, era));
     CREATE TABLE pauses (cluster INTEGER PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL);
     CREATE TABLE runner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, at INTEGER NOT NULL);
     PRAGMA user_version = 5;`);
    const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0");
    const doc = (cluster: number, era: number, scores: [number, number][]) =>
      JSON.stringify({
        cluster,
        era,
        aggregation: { scores: scores.map(([node, score]) => ({ node, score, eligible: score >= 9000 })) },
      });
    const eras: [number, number, [number, number][] | null][] = [
      [
        1,
        1,
        [
          [1, 9500],
          [2, 100],
          [3, 9900],
        ],
      ],
      [
        1,
        2,
        [
          [1, 9400],
          [2, 200],
          [3, 9800],
        ],
      ],
      [1, 3, null], // skipped
      [
        1,
        4,
        [
          [1, 9300],
          [2, 300],
          [4, 9700],
        ],
      ], // node 3 replaced by node 4
      [
        1,
        5,
        [
          [1, 9200],
          [2, 400],
          [4, 9600],
        ],
      ],
      [
        2,
        7,
        [
          [4, 8000],
          [5, 9100],
          [6, 9000],
        ],
      ],
      [
        2,
        8,
        [
          [4, 8200],
          [5, 8900],
          [6, 9000],
        ],
      ],
      [
        3,
        1,
        [
          [5, 7000],
          [7, 9999],
        ],
      ],
    ];
    const insertEra = db.prepare(
      "INSERT INTO eras (cluster, era, status, evidence_hash, evidence, reason, carried, at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
    );
    const insertAction = db.prepare(
      `INSERT INTO actions (cluster, era, kind, state, executor, ref, evidence_hash, evidence, updated_at)
       VALUES (?, ?, ?, 'executed', 'operator', NULL, ?, ?, ?)`,
    );
    const documents = new Map<string, string>();
    for (const [i, [cluster, era, scores]] of eras.entries()) {
      if (scores === null) {
        insertEra.run(cluster, era, "skipped", null, null, "no quorum", 100 + i);
        continue;
      }
      const h = hash(cluster * 100 + era);
      documents.set(h, doc(cluster, era, scores));
      insertEra.run(cluster, era, "decided", h, documents.get(h), null, 100 + i);
      for (const kind of ["usage-report", "distribution"])
        insertAction.run(cluster, era, kind, h, documents.get(h), 200 + i);
    }
    // An action whose document no era holds (its own copy is all there is), and one without any.
    documents.set(hash(999), doc(9, 9, [[1, 1]]));
    insertAction.run(9, 9, "replace-node", hash(999), documents.get(hash(999)), 300);
    insertAction.run(9, -1, "parameters", null, null, 301);
    db.close();

    // The history and candidates' scores as the bot read them from this layout: every document parsed.
    type Doc = { aggregation: { scores: { node: number; score: number }[] } };
    const old = new Database(path, { readonly: true });
    const oldHistory = (cluster: number, beforeEra: number, n: number) => {
      const rows = old
        .prepare("SELECT * FROM eras WHERE cluster = ? AND era < ? AND status = 'decided' ORDER BY era DESC LIMIT ?")
        .all(cluster, beforeEra, n) as { evidence: string; evidence_hash: string }[];
      const history: Record<string, number[]> = {};
      const evidence: string[] = [];
      for (const e of rows.reverse()) {
        for (const x of (JSON.parse(e.evidence) as Doc).aggregation.scores)
          (history[String(x.node)] ??= []).push(x.score);
        evidence.push(e.evidence_hash);
      }
      return { history, evidence };
    };
    const oldCandidates = (cluster: number, n: number, nodes: Set<number>) => {
      const rows = old
        .prepare(
          `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY cluster ORDER BY era DESC) AS n
             FROM eras WHERE cluster != ? AND status = 'decided') WHERE n <= ? ORDER BY cluster, era DESC`,
        )
        .all(cluster, n) as { evidence: string; evidence_hash: string }[];
      const sums = new Map<number, { total: number; count: number }>();
      const evidence: string[] = [];
      for (const e of rows) {
        const scored = (JSON.parse(e.evidence) as Doc).aggregation.scores.filter((x) => nodes.has(x.node));
        for (const x of scored) {
          const acc = sums.get(x.node) ?? { total: 0, count: 0 };
          sums.set(x.node, { total: acc.total + x.score, count: acc.count + 1 });
        }
        if (scored.length > 0) evidence.push(e.evidence_hash);
      }
      return { scores: new Map([...sums].map(([k, { total, count }]) => [k, Math.floor(total / count)])), evidence };
    };
    const queries: [number, number, number][] = [
      [1, 6, 3],
      [1, 6, 10],
      [1, 3, 3],
      [1, 1, 3],
      [2, 9, 1],
      [3, 2, 2],
    ];
    const candidates: [number, number, number[]][] = [
      [1, 3, [4, 5, 6, 7]],
      [1, 1, [5]],
      [2, 2, [1, 2, 5, 7]],
      [3, 3, [4, 6, 8]],
    ];
    const before = {
      history: queries.map(([c, e, n]) => oldHistory(c, e, n)),
      candidates: candidates.map(([c, n, nodes]) => oldCandidates(c, n, new Set(nodes))),
      eras: eras.map(([c, e]) =>
        old.prepare("SELECT evidence FROM eras WHERE cluster = ? AND era = ?").pluck().get(c, e),
      ),
      actions: old
        .prepare("SELECT cluster, era, kind, evidence_hash, evidence FROM actions ORDER BY cluster, era, kind")
        .all() as {
        cluster: number;
        era: number;
        kind: ActionKind;
        evidence_hash: string | null;
        evidence: string | null;
      }[],
    };
    old.close();
    // What that was, so that equal is not equally wrong: cluster 1's last three decided eras, and
    // candidate 5's mean over clusters 2 and 3 (two eras each at most).
    expect(before.history[0]).to.deep.equal({
      history: { "1": [9400, 9300, 9200], "2": [200, 300, 400], "3": [9800], "4": [9700, 9600] },
      evidence: [hash(102), hash(104), hash(105)],
    });
    expect(before.candidates[0].scores).to.deep.equal(
      new Map([
        [4, 8100],
        [5, 8333],
        [6, 9000],
        [7, 9999],
      ]),
    );

    const store = new BotStore(path);
    expect(store.version).to.equal(8);
    expect(queries.map(([c, e, n]) => historyFromStore(store, c, e, n))).to.deep.equal(before.history);
    const after = candidates.map(([c, n, nodes]) => candidateScores(store, c, n, new Set(nodes)));
    expect(after.map((x) => x.evidence)).to.deep.equal(before.candidates.map((x) => x.evidence));
    expect(after.map((x) => [...x.scores])).to.deep.equal(before.candidates.map((x) => [...x.scores]));
    // Every record reads the same document as before, and each document is stored once.
    expect(eras.map(([c, e]) => store.era(c, e)!.evidence)).to.deep.equal(before.eras);
    expect(before.actions).to.have.length(16);
    for (const a of before.actions) {
      expect(store.action(a.cluster, a.era === -1 ? null : a.era, a.kind)).to.deep.include({
        evidenceHash: a.evidence_hash,
        evidence: a.evidence,
      });
    }
    for (const [h, json] of documents) expect(store.evidence(h)).to.equal(json);
    store.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT COUNT(*) FROM evidence").pluck().get()).to.equal(documents.size);
    check.close();
  });

  it("is run by one process at a time: a live one's claim refuses another, a dead one's is taken over", function () {
    const path = file();
    const store = new BotStore(path);
    store.claim(process.ppid); // a live process of this host (the test runner's parent)
    const other = new BotStore(path);
    expect(() => other.claim()).to.throw(
      `another bot process (pid ${process.ppid}) runs on this store: stop it first (its pause and status commands work meanwhile)`,
    );
    // Reading and pausing still work meanwhile.
    other.pause(1, "maintenance");
    expect(store.paused().get(1)?.reason).to.equal("maintenance");
    store.release(process.ppid);
    other.claim();
    other.claim(); // again, by the same process: fine
    other.release();
    // A claim left by a process that died (SIGKILL) is taken over.
    store.claim(2 ** 22 + 12_345);
    expect(() => other.claim()).to.not.throw();
    store.close();
    other.close();
  });
});
