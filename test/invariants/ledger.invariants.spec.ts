/**
 * Property-based tests of the ledger and price rules. fast-check drives random action sequences
 * (deposits, reservations and caps — pay-per-use ones among them —, closes, usage reports, batch
 * settlements, unlock + withdraw, time, rent changes, node additions and removals, replication
 * factors, cluster reservations, governance delays, and price changes racing usage reports in one
 * era) against the in-process chain, from one fixture snapshot per run (the fixture, the actions
 * and the model's world are in ./world.ts). A reference model (test/helpers/model.ts) predicts each
 * transaction's outcome — success with the exact settlements (paid, debt), or the named custom
 * error — so an unexpected revert kind (panic, unknown error, or another error than predicted)
 * fails the property. After every action: (a) conservation; (b) the charges the events report are
 * bounded by the index from `clusterPriceCheckpoints` (and, stronger, equal its floor: remainders
 * carry); (c) an owner never pays a price that was not announced with the notice: an announced
 * increase is not in force before its time, which is at least the notice from its announcement and
 * never earlier than one announced before, and every rise of the price in force while an open
 * bucket can be billed (cap > 0, even with nothing allocated) comes at such a time; (d) every
 * bucket is billed by the one rule and never above its cap, a ledger's cap units are the caps of
 * its open buckets, a cluster's billable buckets are its open buckets with a cap, and a cluster
 * with one holds its replicas; and each cluster's members, their rent in force and tokens are the
 * model's. FC_SEED=… replays a failure.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { DAY } from "../../deploy/core";
import { exampleFixture, CLUSTER_PARAMS, NODE_PARAMS, RENT, USD, type ExampleFixture } from "../helpers/fixtures";
import { revertOf } from "../helpers/model";
import { RUNS, SEED, World, actionArb, invariantFixture, stats } from "./world";

// ───────────────────────────────────────────── specs ───────────────────────────────────────────────

describe("ledger invariants (property-based)", function () {
  it("random action sequences keep conservation, index-bounded charges and price notice", async function () {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 12, maxLength: 30 }), async (actions) => {
        const f = await loadFixture(invariantFixture);
        const w = await new World(f).load();
        await w.check("fixture");
        for (const [i, a] of actions.entries()) {
          await w.exec(a);
          await w.check(`#${i} ${a.kind}`);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    if (process.env.FC_STATS !== undefined) console.log(stats);
    // The property is not vacuous: every kind of money movement happened.
    for (const kind of [
      "deposit",
      "alloc",
      "settle",
      "unlock",
      "withdraw",
      "close",
      "accept",
      "addNode",
      "removeNode",
      "usage",
    ]) {
      expect(stats.ok.get(kind) ?? 0, `successful ${kind}`).to.be.greaterThan(0);
    }
    expect(stats.refused.get("alloc:LedgerInsufficientRunway") ?? 0, "refused allocations").to.be.greaterThan(0);
    // The pay-per-use, cap and replication rules ran both ways.
    expect(stats.payPerUse, "caps raised from a reservation of 0").to.be.greaterThan(0);
    for (const refusal of [
      "setCap:BucketCapBelowMeasured",
      "setCap:LedgerInsufficientRunway",
      "params:ClusterReplicationInUse",
      // Refused at the unlock (above what is free now) and again at the withdrawal (the rent of the wait).
      "unlock:LedgerInsufficientFree",
      "withdraw:LedgerInsufficientFree",
    ]) {
      expect(stats.refused.get(refusal) ?? 0, `refused ${refusal}`).to.be.greaterThan(0);
    }
    const refusedWith = (error: string, ...labels: string[]): number =>
      labels.reduce((n, label) => n + (stats.refused.get(`${label}:${error}`) ?? 0), 0);
    expect(
      refusedWith("ClusterBelowReplication", "alloc", "setCap"),
      "billing refused in an under-replicated cluster",
    ).to.be.greaterThan(0);
    expect(
      refusedWith("ClusterBelowReplication", "params", "removeNode"),
      "factors and removals refused below the replicas of billable buckets",
    ).to.be.greaterThan(0);
    expect(stats.factorsChanged, "replication factors changed").to.be.greaterThan(0);
    expect(stats.belowFactor, "clusters taken below their factor with no billable bucket").to.be.greaterThan(0);
    expect(
      stats.scheduledUnallocated,
      "increases announced with nothing allocated but a bucket billable",
    ).to.be.greaterThan(0);
    expect(stats.risesAnnounced, "rises at an announced time").to.be.greaterThan(0);
    expect(stats.risesAtOnce, "rises at once with no billable bucket").to.be.greaterThan(0);
    expect(stats.races, "usage reports and price changes in one era").to.be.greaterThan(0);
    expect(stats.arrears, "settlements leaving debt").to.be.greaterThan(0);
    expect(stats.usageChanged, "usage reports changing billed units").to.be.greaterThan(0);
    expect(stats.scheduled, "announced increases").to.be.greaterThan(0);
    expect(stats.withdrawn, "withdrawals").to.be.greaterThan(0);
    expect(stats.depositsInDebt, "deposits into a ledger with debt").to.be.greaterThan(0);
  });

  it("k partial settlements at random times pay exactly what one settlement at the end does", async function () {
    type Step = {
      dt: number;
      what: "batch" | "setCap" | "rent" | "deposit" | "none";
      pick: number;
      bps: number;
      amount: bigint;
    };
    const stepArb: fc.Arbitrary<Step> = fc.record({
      dt: fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.integer({ min: 3600, max: 15 * 86_400 })),
      what: fc.oneof(
        { weight: 3, arbitrary: fc.constant("batch" as const) },
        { weight: 1, arbitrary: fc.constant("setCap" as const) },
        { weight: 1, arbitrary: fc.constant("rent" as const) },
        { weight: 3, arbitrary: fc.constant("deposit" as const) },
        { weight: 1, arbitrary: fc.constant("none" as const) },
      ),
      pick: fc.nat({ max: 1000 }),
      bps: fc.integer({ min: 2_000, max: 30_000 }),
      amount: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 20n * USD })),
    });
    const seen = { settlements: 0, withDebt: 0, depositsInDebt: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 16 }),
        fc.integer({ min: 1, max: 20 * 86_400 }),
        async (steps, tail) => {
          const f = await loadFixture(invariantFixture);
          const { ddc } = f;
          const buckets = [1n, 2n, 4n, 5n]; // cluster 1: owners 0, 0, 1, 2
          const owners = [f.owners[0], f.owners[1], f.owners[2]];
          const start = BigInt(await time.latest());
          /** Runs the steps; settlements only if `partial`; everything else in both runs. */
          const run = async (partial: boolean): Promise<bigint[]> => {
            let t = start;
            let settlements = 0n;
            for (const s of steps) {
              t += BigInt(s.dt);
              if (s.what === "none" || (!partial && (s.what === "batch" || s.what === "setCap"))) continue;
              await time.setNextBlockTimestamp(t);
              if (s.what === "batch") {
                const list = buckets.filter((_, i) => ((s.pick >> i) & 1) === 1);
                await ddc.connect(f.stranger).bucketSettlePayment(1n, list.length > 0 ? list : [buckets[0]]);
                settlements++;
              } else if (s.what === "setCap") {
                // A cap change that changes nothing but settles the owner's ledger (one ledger, not a batch).
                const b = buckets[s.pick % buckets.length];
                const view = await ddc.getBucket(b);
                const owner = owners.find((o) => o.address === view.owner)!;
                await ddc.connect(owner).bucketSetCap(b, view.cap);
                settlements++;
              } else if (s.what === "deposit") {
                // In both runs; a deposit into a ledger with debt settles it (in the partial run,
                // also the debt the partial settlements recorded).
                const owner = owners[s.pick % owners.length];
                const r = await (await ddc.connect(owner).accountDeposit(1n, s.amount)).wait();
                const settled = r!.logs.some((log) => ddc.interface.parseLog(log)?.name === "LedgerSettled");
                if (settled && partial) seen.depositsInDebt++;
              } else {
                const n = BigInt((s.pick % 4) + 1);
                const rent = ((await ddc.getNode(n)).rent * BigInt(s.bps)) / 10_000n;
                await ddc.connect(f.providers[Number(n) - 1]).nodeChangeRent(n, rent);
                await time.setNextBlockTimestamp(t + 1n);
                try {
                  await ddc.connect(f.manager).clusterAcceptNodeRent(1n, n);
                } catch (e) {
                  expect(revertOf(e, [ddc.interface]).name).to.equal("ClusterRentUnchanged");
                }
                t += 1n;
              }
            }
            await time.setNextBlockTimestamp(t + BigInt(tail));
            await ddc.connect(f.stranger).bucketSettlePayment(1n, buckets);
            const cluster = await ddc.getCluster(1n);
            const out = [settlements, cluster.revenuePool, cluster.price, cluster.index];
            for (const o of owners) {
              const l = await ddc.getLedger(o.address, 1n);
              out.push(l.balance, l.debt, l.owed, l.free);
            }
            return out;
          };
          const snapshot = (await network.provider.send("evm_snapshot", [])) as string;
          const [k, ...partial] = await run(true);
          await network.provider.send("evm_revert", [snapshot]);
          const [none, ...single] = await run(false);
          expect(none).to.equal(0n);
          // Pool, price, index, and every ledger's balance, debt, owed and free: to the unit.
          expect(partial, `${k} partial settlements against one`).to.deep.equal(single);
          seen.settlements += Number(k);
          if (single.some((x, i) => i >= 3 && (i - 3) % 4 === 1 && x > 0n)) seen.withDebt++;
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
    if (process.env.FC_STATS !== undefined) console.log(seen);
    // Not vacuous: partial settlements happened, some runs ended in debt, some deposits settled.
    expect(seen.settlements).to.be.greaterThan(25);
    expect(seen.withDebt).to.be.greaterThan(0);
    expect(seen.depositsInDebt).to.be.greaterThan(0);
  });

  describe("price notice: worked examples of (c)", function () {
    /** The example network (price 4, 10 units allocated, notice max(14 d, 7 d)) and a third node. */
    async function threeNodes(): Promise<ExampleFixture & { node3: bigint }> {
      const f = await exampleFixture();
      const provider3 = f.others[0];
      await f.ddc.connect(provider3).nodeCreate(ethers.Wallet.createRandom().address, 1000n, RENT, NODE_PARAMS);
      await f.ddc.connect(provider3).nodeTrustManager(f.manager.address);
      return { ...f, node3: 3n };
    }

    /** Raises `node`'s rent to `rent` and has the manager accept it; returns the block time. */
    async function acceptRent(f: ExampleFixture, provider: HardhatEthersSigner, node: bigint, rent: bigint) {
      await f.ddc.connect(provider).nodeChangeRent(node, rent);
      const r = await (await f.ddc.connect(f.manager).clusterAcceptNodeRent(f.cluster, node)).wait();
      return BigInt((await r!.getBlock()).timestamp);
    }

    it("an increase waits max(priceNotice, unlockDelay), to the second, and is charged from then on", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, cluster } = f;
      for (const [priceNotice, expected] of [
        [14 * DAY, 14 * DAY],
        [DAY, 7 * DAY],
      ]) {
        await ddc.connect(f.manager).clusterChangeParams(cluster, { ...CLUSTER_PARAMS, priceNotice });
        const old = (await ddc.getCluster(cluster)).price;
        const rent = (await ddc.getNode(f.node2)).rent + RENT;
        const t = await acceptRent(f, f.provider2, f.node2, rent);
        const at = t + BigInt(expected);
        const v = await ddc.getCluster(cluster);
        expect([v.price, v.pendingPrice, v.pendingPriceAt]).to.deep.equal([old, old + 2n * RENT, at]);
        await time.increaseTo(at - 1n);
        expect((await ddc.getCluster(cluster)).price, "one second before").to.equal(old);
        const before = await ddc.clusterPriceIndex(cluster);
        await time.increaseTo(at + 10n);
        expect((await ddc.getCluster(cluster)).price, "from the announced time").to.equal(old + 2n * RENT);
        expect(await ddc.clusterPriceIndex(cluster)).to.equal(before + old + 10n * (old + 2n * RENT));
      }
    });

    it("a decrease, and any change while no open bucket can be billed, applies at once", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, cluster } = f;
      const t = await acceptRent(f, f.provider1, f.node1, RENT / 2n);
      let v = await ddc.getCluster(cluster);
      expect([v.price, v.pendingPriceAt]).to.deep.equal([3n * RENT, 0n]);
      const cps = await ddc.clusterPriceCheckpoints(cluster);
      expect([...cps[cps.length - 1]]).to.deep.equal([t, cps[cps.length - 1].index, 3n * RENT]);
      await ddc.connect(f.owner1).bucketClose(f.bucket);
      await acceptRent(f, f.provider1, f.node1, 5n * RENT);
      v = await ddc.getCluster(cluster);
      expect([v.allocated, v.price, v.pendingPriceAt]).to.deep.equal([0n, 12n * RENT, 0n]);
    });

    it("an increase waits its notice while a pay-per-use bucket is open, though nothing is allocated", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, cluster } = f;
      await ddc.connect(f.owner1).bucketClose(f.bucket);
      await ddc.connect(f.owner2).bucketCreate(cluster, "");
      await ddc.connect(f.owner2).accountDeposit(cluster, 100n * USD);
      await ddc.connect(f.owner2).bucketSetCap(2n, 10n);
      let v = await ddc.getCluster(cluster);
      expect([v.allocated, v.billableBuckets, v.price]).to.deep.equal([0n, 1n, 4n * RENT]);
      const t = await acceptRent(f, f.provider2, f.node2, 3n * RENT);
      v = await ddc.getCluster(cluster);
      expect([v.price, v.pendingPrice, v.pendingPriceAt]).to.deep.equal([4n * RENT, 8n * RENT, t + 14n * BigInt(DAY)]);
      // With the cap back at 0 no bucket can be billed: the next change applies at once.
      await ddc.connect(f.owner2).bucketSetCap(2n, 0n);
      await acceptRent(f, f.provider1, f.node1, 2n * RENT);
      v = await ddc.getCluster(cluster);
      expect([v.billableBuckets, v.price, v.pendingPriceAt]).to.deep.equal([0n, 10n * RENT, 0n]);
    });

    it("a decrease below the current price cancels a pending increase", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, cluster } = f;
      await acceptRent(f, f.provider2, f.node2, 3n * RENT);
      expect((await ddc.getCluster(cluster)).pendingPrice).to.equal(8n * RENT);
      await acceptRent(f, f.provider2, f.node2, RENT / 2n);
      const v = await ddc.getCluster(cluster);
      expect([v.price, v.pendingPrice, v.pendingPriceAt]).to.deep.equal([3n * RENT, 0n, 0n]);
      await time.increase(30 * DAY);
      expect((await ddc.getCluster(cluster)).price).to.equal(3n * RENT);
    });

    it("a higher target never moves an announced increase earlier (setTarget NatSpec)", async function () {
      const f = await loadFixture(exampleFixture);
      const { ddc, cluster } = f;
      const t = await acceptRent(f, f.provider2, f.node2, 2n * RENT); // 4 → 6, announced at t + 14 d
      const announced = t + 14n * BigInt(DAY);
      expect((await ddc.getCluster(cluster)).pendingPriceAt).to.equal(announced);
      await ddc.connect(f.manager).clusterChangeParams(cluster, { ...CLUSTER_PARAMS, priceNotice: 0 });
      await acceptRent(f, f.provider1, f.node1, 2n * RENT); // 6 → 8: notice now max(0, 7 d)
      const v = await ddc.getCluster(cluster);
      expect(v.pendingPrice).to.equal(8n * RENT);
      expect(v.pendingPriceAt, "not earlier than the announced time").to.be.at.least(announced);
      await time.increaseTo(announced - 1n);
      expect((await ddc.getCluster(cluster)).price, "the old price until the announced time").to.equal(4n * RENT);
    });

    it("a node removed while an increase is pending stops being charged at once", async function () {
      const f = await loadFixture(threeNodes);
      const { ddc, cluster, manager } = f;
      // Node 3 (two vNodes at 1) joins: 4 → 6 after the notice.
      await ddc.connect(manager).clusterAddNode(cluster, f.node3, [5n, 6n]);
      await time.increase(15 * DAY);
      expect((await ddc.getCluster(cluster)).price).to.equal(6n * RENT);
      // Node 2 asks 3 (two vNodes): 6 → 10, announced.
      await acceptRent(f, f.provider2, f.node2, 3n * RENT);
      expect((await ddc.getCluster(cluster)).price).to.equal(6n * RENT);
      // Node 1 (two vNodes at 1) leaves: its 2 should stop now (4 now: node 2's old 2 + node 3's 2).
      await ddc.connect(manager).clusterRemoveNode(cluster, f.node1);
      const v = await ddc.getCluster(cluster);
      expect(v.pendingPrice, "8 at the announced time").to.equal(8n * RENT);
      expect(v.price, "the removed node's rent is no longer charged").to.equal(4n * RENT);
    });
  });
});
