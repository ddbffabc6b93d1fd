import { expect } from "chai";
import { ethers } from "hardhat";
import pino from "pino";
import { aggregate } from "../../manager-bot/src/aggregate";
import { signReport, type SignedReport } from "../../manager-bot/src/report";
import { ChainView } from "../../storage-node/src/chain";
import { NO_FAULTS } from "../../storage-node/src/faults";
import { replicasFor } from "../../storage-node/src/placement";
import { storageDomain } from "../../storage-node/src/protocol";
import { measureEra, type Clock, type EraMeasurement } from "../../validator/src/eraRun";
import { ValidatorSessions } from "../../validator/src/nodeApi";
import { reportBody } from "../../validator/src/service";
import { buildNet, ownerClient, type Net } from "../storage-node/replication/harness";
import { fastHardhatChain } from "../helpers/fastChain";

/**
 * Three validators measure one era of a cluster of six real nodes (in-process servers on loopback,
 * replication 3) whose faults are injected: one serves wrong bytes, one lost its objects, one lies
 * about its usage, one answers too late, one is down for a moment (honest, only slow once), one is
 * healthy. The chain's time runs SPEED times the wall clock (a block mined every 100 ms at the
 * fast clock's time), so an era of an hour passes in 30 s; nodes and validators use that clock.
 */
const SPEED = 120;

describe("validator: measuring real nodes", function () {
  this.timeout(240_000);
  let net: Net;
  let chain: Awaited<ReturnType<typeof fastHardhatChain>> | undefined;
  let fast: Clock;
  const sizes = new Map<string, number>();
  let measured: EraMeasurement[];
  let validators: { address: string; wallet: ReturnType<typeof ethers.Wallet.createRandom> }[];

  before(async () => {
    chain = await fastHardhatChain(SPEED);
    fast = chain.clock;
    net = await buildNet(6, 3, {
      timeoutMs: 1500,
      eraClock: fast.now,
      faults: (i) =>
        [
          undefined,
          { ...NO_FAULTS, wrongBytesFraction: 1 },
          { ...NO_FAULTS, dropFraction: 1 },
          { ...NO_FAULTS, inflateUsageBytes: 1_000_000 },
          { ...NO_FAULTS, delayMs: 2_500 },
          undefined,
        ][i],
    });
    validators = [0, 1, 2].map(() => {
      const wallet = ethers.Wallet.createRandom();
      return { address: wallet.address, wallet };
    });
    for (const v of validators) await net.ddc.connect(net.manager).clusterSetValidator(net.cluster, v.address, true);
    // 24 objects from 1 KiB to 200 KiB, each written to its first replica (which copies it to the others).
    const app = await ownerClient(net);
    const info = await net.nodes[0].chain.cluster(net.cluster);
    for (let i = 0; i < 24; i++) {
      const key = `photos/${i}.jpg`;
      const body = Buffer.alloc(1024 + i * 8_500, i + 1);
      const first = replicasFor(info!.ring, 3, 6, key)[0];
      const node = net.nodes.find((n) => n.id === first)!;
      const r = await app.put(node, key, body);
      expect(r.status, `PUT ${key}: ${r.body.toString()}`).to.equal(201);
      sizes.set(key, body.length);
    }
  });

  after(async () => {
    chain?.stop();
    await net?.close();
  });

  it("three validators measure one era: each fault scores as it should, the honest nodes fully", async () => {
    const view = new ChainView({ provider: ethers.provider, core: net.coreAddress, ttlMs: 500, clock: fast.now });
    const { chainId } = await ethers.provider.getNetwork();
    const domain = storageDomain(chainId, net.coreAddress);
    // The next era, from its start.
    const now = await view.era(net.cluster, Math.floor(fast.now() / 1000));
    const era = await view.era(net.cluster, now!.end);
    await fast.sleep(era!.start * 1000 - fast.now());
    // Node 6 (index 5) is down for a moment (300 ms, 1 % of the era) a third into the era: an
    // honest node, briefly away; what timed out then is tried again later.
    const outage = (async () => {
      await fast.sleep((era!.end - era!.start) * 300);
      await net.stop(5);
      await new Promise((r) => setTimeout(r, 300));
      await net.start(5);
    })();
    const logger = pino({ level: "silent" });
    measured = await Promise.all(
      validators.map((v) =>
        measureEra({
          cluster: net.cluster,
          era: era!.era,
          start: era!.start,
          end: era!.end,
          validator: v.address,
          view,
          provider: ethers.provider,
          sessions: new ValidatorSessions(v.wallet, domain),
          config: { probes: { perEra: 20, timeoutMs: 2_000 }, challenges: { perNode: 30, timeoutMs: 2_000 } },
          clock: fast,
          logger,
          signal: new AbortController().signal,
        }),
      ),
    );
    await outage;
    const ids = net.nodes.map((n) => n.id);
    for (const m of measured) {
      expect(m.nodes.map((n) => n.node)).to.deep.equal(ids);
      const [healthy, wrong, dropped, liar, late, blip] = m.nodes;
      // Healthy: every probe, every challenge.
      expect([healthy.availabilityBps, healthy.retrievable, healthy.score]).to.deep.equal([10_000, true, 10_000]);
      expect(healthy.challenges.sent).to.equal(30);
      expect(healthy.challenges.passed).to.equal(30);
      // Wrong bytes: the leaf does not lead to the root.
      expect([wrong.retrievable, wrong.score]).to.deep.equal([false, 0]);
      expect(wrong.reasons.join(" ")).to.include("do not lead to the object's root");
      // Lost objects: still listed, not served.
      expect([dropped.retrievable, dropped.score]).to.deep.equal([false, 0]);
      expect(dropped.reasons.join(" ")).to.include("HTTP 404");
      // A lie about usage: its signed record contradicts its signed manifest.
      expect(liar.retrievable).to.equal(true);
      expect(liar.score).to.equal(0);
      expect(liar.usage.record).to.equal("invalid");
      expect(liar.reasons.join(" ")).to.match(/claims \d+ bytes stored, its manifest of the era sums \d+/);
      // Too late for every probe and challenge: unavailable, and not retrievable once its retries failed too.
      expect(late.availabilityBps).to.equal(0);
      expect(late.retrievable).to.equal(false);
      expect(late.challenges.failures.filter((f) => f.counted).every((f) => /no answer within/.test(f.what))).to.equal(
        true,
      );
      // Down for a moment: its probes then failed, but the challenges that timed out passed later.
      expect(blip.retrievable, JSON.stringify(blip.challenges.failures)).to.equal(true);
      expect(blip.challenges.failures.every((f) => !f.counted)).to.equal(true);
      expect(blip.availabilityBps).to.be.within(5_000, 10_000);
      expect(blip.score).to.equal(blip.availabilityBps);
      // Usage: every object once, whatever the liar claims.
      const total = [...sizes.values()].reduce((a, b) => a + b, 0);
      expect(m.buckets).to.deep.equal([{ bucket: net.bucket, measuredBytes: BigInt(total), unconfirmedKeys: 0 }]);
    }
  });

  it("the bot decides from them: one dishonest validator among three changes nothing; one report of three decides nothing", async () => {
    const { chainId } = await ethers.provider.getNetwork();
    const reports: SignedReport[] = [];
    for (const [i, m] of measured.entries()) {
      const body = reportBody(m);
      reports.push(await signReport(validators[i].wallet, Number(chainId), net.coreAddress, body));
    }
    const set = new Set(validators.map((v) => ethers.getAddress(v.address)));
    const members = net.nodes.map((n) => n.id);
    const policy = { qosThreshold: 9000, unitSize: 1n << 30n };
    const key = { cluster: measured[0].cluster, era: measured[0].era, chainId: Number(chainId), core: net.coreAddress };
    const honest = aggregate(reports, set, members, policy, key);
    if (!honest.decided) expect.fail("undecided with three reports");
    // The dishonest one: every failing node perfect, every healthy one failed, usage doubled.
    const lie = reports[2].report;
    const dishonest = await signReport(validators[2].wallet, Number(chainId), net.coreAddress, {
      ...lie,
      nodes: lie.nodes.map((n) => ({ ...n, retrievable: n.score === 0, score: n.score === 0 ? 10_000 : 0 })),
      buckets: lie.buckets.map((b) => ({ ...b, measuredBytes: (BigInt(b.measuredBytes) * 2n).toString() })),
    });
    const withLiar = aggregate([reports[0], reports[1], dishonest], set, members, policy, key);
    if (!withLiar.decided) expect.fail("undecided with three reports");
    expect(withLiar.ineligible).to.deep.equal(honest.ineligible);
    // Every faulty node is out, the healthy one in; the one briefly away is in when most of its
    // probes got through (its lower-median score meets the threshold).
    const blip = honest.scores.find((x) => x.node === net.nodes[5].id)!;
    expect(blip.eligible).to.equal(blip.score >= 9000);
    expect(honest.ineligible).to.deep.equal([
      net.nodes[1].id,
      net.nodes[2].id,
      net.nodes[3].id,
      net.nodes[4].id,
      ...(blip.eligible ? [] : [net.nodes[5].id]),
    ]);
    expect(withLiar.usage).to.deep.equal(honest.usage);
    // Fewer than 2/3 reporting: nothing decided.
    const one = aggregate([reports[0]], set, members, policy, key);
    expect(one).to.deep.include({ decided: false, have: 1, need: 2, validators: 3 });
  });
});
