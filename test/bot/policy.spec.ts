import { expect } from "chai";
import {
  failingStreak,
  planEras,
  planReplacements,
  planSettlements,
  settlementDue,
  type CandidateState,
  type MemberState,
} from "../../manager-bot/src/policy";

const T = 9000;
const member = (node: number, scores: number[], extra: Partial<MemberState> = {}): MemberState => ({
  node,
  vNodes: 2,
  scores,
  pending: false,
  ...extra,
});
const candidate = (node: number, extra: Partial<CandidateState> = {}): CandidateState => ({
  node,
  trustsManager: true,
  capacity: 1000n,
  reserved: 0n,
  meanScore: 9500,
  ...extra,
});
const base = {
  threshold: T,
  reservedPerVNode: 100n,
  policy: { failingEras: 3, maxPerEra: 1 },
};

describe("manager bot: replacement, settlement and era policies (pure)", function () {
  describe("replacement", function () {
    it("counts the failing streak at the end only", function () {
      expect(failingStreak([9500, 100, 100, 100], T)).to.equal(3);
      expect(failingStreak([100, 100, 9500], T)).to.equal(0);
      expect(failingStreak([8999, 9000, 8999], T)).to.equal(1);
      expect(failingStreak([], T)).to.equal(0);
    });

    it("hysteresis: a node is replaced after k consecutive failing eras, not before", function () {
      const members = [member(1, [9500, 100, 100]), member(2, [9500, 9500, 9500]), member(3, [9500, 9500])];
      expect(planReplacements({ ...base, members, candidates: [candidate(9)] }).replace).to.deep.equal([]);
      members[0].scores.push(100);
      expect(planReplacements({ ...base, members, candidates: [candidate(9)] }).replace).to.deep.equal([
        { node: 1, replacements: [9, 9], failingEras: 3 },
      ]);
    });

    it("chooses a trusted candidate with capacity, best history first, each once", function () {
      const members = [member(1, [0, 0, 0]), member(2, [0, 0, 0, 0]), member(3, [9500])];
      const candidates = [
        candidate(10, { trustsManager: false, meanScore: 10_000 }),
        candidate(11, { capacity: 150n }), // room for one vNode of 100, not two
        candidate(12, { meanScore: 9000 }),
        candidate(13, { meanScore: 9900 }),
        candidate(14, { meanScore: null }),
        candidate(3, { meanScore: 10_000 }), // a member: never a fresh replacement
      ];
      const plan = planReplacements({ ...base, members, candidates, policy: { failingEras: 3, maxPerEra: 5 } });
      // The worst streak (node 2) first, to the best candidate (13); then node 1 to the next (12).
      expect(plan.replace).to.deep.equal([
        { node: 2, replacements: [13, 13], failingEras: 4 },
        { node: 1, replacements: [12, 12], failingEras: 3 },
      ]);
    });

    it("caps replacements per era, waits while one is pending, and says why it defers", function () {
      const members = [
        member(1, [0, 0, 0]),
        member(2, [0, 0, 0], { pending: true }),
        member(3, [0, 0, 0]),
        member(4, [9500]),
      ];
      const plan = planReplacements({ ...base, members, candidates: [candidate(9), candidate(10)] });
      expect(plan.replace).to.deep.equal([{ node: 1, replacements: [9, 9], failingEras: 3 }]);
      expect(plan.deferred).to.deep.equal([
        { node: 2, reason: "a replacement is already pending" },
        { node: 3, reason: "at most 1 replacements per era" },
      ]);
      const none = planReplacements({
        ...base,
        members: [member(1, [0, 0, 0]), member(2, [9500])],
        candidates: [candidate(9, { trustsManager: false })],
      });
      expect(none.deferred).to.deep.equal([
        { node: 1, reason: "no node trusts the manager with capacity for its vNodes" },
      ]);
    });

    it("replaces by one fresh node taking every vNode, so the node count stays (the core allows it below the factor too)", function () {
      const plan = planReplacements({
        ...base,
        members: [member(1, [0, 0, 0]), member(2, [9500])],
        candidates: [candidate(9)],
      });
      expect(plan.replace.map((r) => [r.node, r.replacements])).to.deep.equal([[1, [9, 9]]]);
      expect(plan.deferred).to.deep.equal([]);
    });
  });

  describe("settlement due-ness", function () {
    const now = 10_000n;
    const era = 3_600n;
    it("names why a ledger is due, or null", function () {
      const l = { bucket: 1, owed: 10n, settledAt: now - 10n, coveredUntil: now + 10n * era };
      expect(settlementDue({ ...l, owed: 0n }, now, era, 100n)).to.equal(null);
      expect(settlementDue(l, now, era, 100n)).to.equal(null);
      expect(settlementDue({ ...l, owed: 100n }, now, era, 100n)).to.equal("accrued");
      expect(settlementDue({ ...l, settledAt: now - era }, now, era, 100n)).to.equal("unsettled-for-an-era");
      expect(settlementDue({ ...l, coveredUntil: now + era - 1n }, now, era, 100n)).to.equal("coverage-ending");
    });

    it("batches due buckets in id order under the batch maximum", function () {
      const ledgers = [5, 3, 9, 1, 7].map((bucket) => ({
        bucket,
        owed: bucket === 9 ? 0n : 500n,
        settledAt: now,
        coveredUntil: now + 10n * era,
      }));
      const plan = planSettlements(ledgers, now, era, 100n, 2);
      expect(plan.batches).to.deep.equal([
        [1, 3],
        [5, 7],
      ]);
      expect(plan.reasons).to.deep.equal({ 1: "accrued", 3: "accrued", 5: "accrued", 7: "accrued" });
    });
  });

  describe("missed eras", function () {
    it("catches up in order, or skips to the last closed era saying which were skipped", function () {
      expect(planEras(4, 8, "catch-up")).to.deep.equal({ decide: [5, 6, 7, 8], skipped: [] });
      expect(planEras(4, 8, "skip")).to.deep.equal({ decide: [8], skipped: [5, 6, 7] });
      expect(planEras(8, 8, "catch-up")).to.deep.equal({ decide: [], skipped: [] });
      expect(planEras(null, 3, "catch-up")).to.deep.equal({ decide: [3], skipped: [] });
    });
  });
});
