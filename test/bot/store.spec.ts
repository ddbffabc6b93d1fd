import { expect } from "chai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Wallet, getAddress } from "ethers";
import { signReport, reportDigest } from "../../manager-bot/src/report";
import { BotStore } from "../../manager-bot/src/store";
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
    expect(store.version).to.equal(5);
    store.close();
    const again = new BotStore(path);
    expect(again.version).to.equal(5);
    again.close();
    const db = new Database(path);
    db.pragma("user_version = 9");
    db.close();
    expect(() => new BotStore(path)).to.throw("the store is at schema 9, this bot knows 5: upgrade the bot");
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
