import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { coreChainView } from "../../manager-bot/src/chain";
import { ReportIntake, createReportServer, scanReportDirectory, type IntakeEvent } from "../../manager-bot/src/intake";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { MemoryReportBook } from "../../manager-bot/src/validate";
import { buildCluster, systemFixture } from "../helpers/system";

const [v1, v2, v3] = [51, 52, 53].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

/** A cluster with validators v1 and v2 during era `era`; after it ends, v2 leaves and v3 joins. */
async function intakeFixture() {
  const f = await systemFixture();
  const { cluster, nodes } = await buildCluster(f);
  const ddc = f.system.ddc.connect(f.manager);
  for (const v of [v1, v2]) await ddc.clusterSetValidator(cluster, v.address, true);
  const [era, , end] = await f.system.ddc.clusterEra(cluster);
  await time.increaseTo(end + 10n);
  await ddc.clusterSetValidator(cluster, v2.address, false);
  await ddc.clusterSetValidator(cluster, v3.address, true);
  const { chainId } = await ethers.provider.getNetwork();
  const core = await f.system.ddc.getAddress();
  const chain = coreChainView(f.system.ddc, ethers.provider, Number(chainId));
  const body: ReportBody = {
    cluster: Number(cluster),
    era: Number(era),
    nodes: nodes
      .slice(0, 3)
      .map((n) => ({ node: Number(n), availabilityBps: 10_000, latencyMs: 12, retrievable: true, score: 9800 })),
    buckets: [{ bucket: 1, measuredBytes: "1000" }],
  };
  return { ...f, cluster, era: Number(era), end, chain, core, chainId: Number(chainId), body };
}

describe("manager bot: reports in (HTTP and a directory) against the chain", function () {
  it("reads an era's end and the validator set as of that end", async function () {
    const f = await loadFixture(intakeFixture);
    expect(await f.chain.eraEnd(Number(f.cluster), f.era)).to.equal(f.end);
    expect(await f.chain.eraEnd(99, 0)).to.equal(undefined);
    expect([...(await f.chain.validatorsAt(Number(f.cluster), f.era))].sort()).to.deep.equal(
      [v1.address, v2.address].sort(),
    );
    // For the next era (not over yet), the set as it is now.
    expect([...(await f.chain.validatorsAt(Number(f.cluster), f.era + 1))].sort()).to.deep.equal(
      [v1.address, v3.address].sort(),
    );
  });

  it("reads a handover as clearing the validator set, as the core does", async function () {
    const f = await loadFixture(intakeFixture);
    const next = f.stranger;
    await f.system.ddc.connect(f.manager).clusterProposeManager(f.cluster, next.address);
    await f.system.ddc.connect(next).clusterAcceptManager(f.cluster);
    expect(await f.system.ddc.clusterValidators(f.cluster)).to.deep.equal([]);
    expect([...(await f.chain.validatorsAt(Number(f.cluster), f.era + 1))]).to.deep.equal([]);
    await f.system.ddc.connect(next).clusterSetValidator(f.cluster, v3.address, true);
    expect([...(await f.chain.validatorsAt(Number(f.cluster), f.era + 1))]).to.deep.equal([v3.address]);
    // The closed era keeps the set of its end.
    expect([...(await f.chain.validatorsAt(Number(f.cluster), f.era))].sort()).to.deep.equal(
      [v1.address, v2.address].sort(),
    );
  });

  it("HTTP: accepted, duplicate, not a validator, malformed, early, too large, rate limited; all counted", async function () {
    const f = await loadFixture(intakeFixture);
    const events: IntakeEvent[] = [];
    const intake = new ReportIntake(f.chain, new MemoryReportBook(), (e) => events.push(e));
    const server = await createReportServer(intake, { bodyLimit: 4096, perMinute: 8 });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    const post = async (body: unknown) => {
      const r = await fetch(`${url}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as Record<string, string> };
    };
    try {
      const good = await signReport(v1, f.chainId, f.core, f.body);
      const accepted = await post(good);
      expect(accepted.status).to.equal(202);
      expect(accepted.json.status).to.equal("accepted");
      expect(await post(good)).to.deep.include({ status: 409 });
      const v3report = await signReport(v3, f.chainId, f.core, f.body);
      const refused = await post(v3report);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.include({ reason: "not-a-validator" });
      expect((await post({ hello: "world" })).json).to.deep.include({ reason: "malformed" });
      const early = await post(await signReport(v1, f.chainId, f.core, { ...f.body, era: f.era + 1 }));
      expect(early.json).to.deep.include({ reason: "early" });
      const huge = await fetch(`${url}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pad: "x".repeat(5000) }),
      });
      expect(huge.status).to.equal(413);
      // Eight requests a minute from one address (the 413 counted): the eighth is served, the ninth is not.
      expect((await post({})).status).to.equal(400);
      expect((await post({})).status).to.equal(400);
      expect((await post({})).status).to.equal(429);
      const stats = (await (await fetch(`${url}/reports/stats`)).json()) as {
        accepted: number;
        rejected: Record<string, number>;
      };
      expect(stats.accepted).to.equal(1);
      expect(stats.rejected).to.deep.include({ duplicate: 1, "not-a-validator": 1, malformed: 3, early: 1 });
      expect(events.filter((e) => e.verdict === "rejected").map((e) => e.reason)).to.deep.equal([
        "duplicate",
        "not-a-validator",
        "malformed",
        "early",
        "malformed",
        "malformed",
      ]);
    } finally {
      await server.close();
    }
  });

  it("with the chain unreachable, a report is neither accepted nor refused: HTTP 503, the file stays", async function () {
    const f = await loadFixture(intakeFixture);
    const away = coreChainView(
      f.system.ddc.connect(new ethers.JsonRpcProvider("http://127.0.0.1:9", f.chainId, { staticNetwork: true })),
      ethers.provider,
      f.chainId,
    );
    const book = new MemoryReportBook();
    const intake = new ReportIntake(away, book);
    const report = await signReport(v1, f.chainId, f.core, f.body);
    const server = await createReportServer(intake);
    try {
      const r = await server.inject({ method: "POST", url: "/reports", payload: report });
      expect(r.statusCode).to.equal(503);
      expect(r.json()).to.deep.include({ status: "unavailable" });
      expect(r.json().detail).to.match(/^cannot check the report now: /);
    } finally {
      await server.close();
    }
    const dir = mkdtempSync(join(tmpdir(), "ddc-reports-"));
    writeFileSync(join(dir, "r.json"), JSON.stringify(report));
    await expect(scanReportDirectory(intake, dir)).to.be.rejected;
    expect(existsSync(join(dir, "r.json"))).to.equal(true);
    expect(book.reportsFor(Number(f.cluster), f.era)).to.deep.equal([]);
    expect(intake.counters.accepted).to.equal(0);
    expect(Object.values(intake.counters.rejected).every((n) => n === 0)).to.equal(true);
  });

  it("a directory: each file validated the same way, then moved aside, with the reason of a rejection", async function () {
    const f = await loadFixture(intakeFixture);
    const dir = mkdtempSync(join(tmpdir(), "ddc-reports-"));
    writeFileSync(join(dir, "a.json"), JSON.stringify(await signReport(v2, f.chainId, f.core, f.body)));
    const forged = { ...(await signReport(v3, f.chainId, f.core, f.body)), validator: v1.address };
    writeFileSync(join(dir, "b.json"), JSON.stringify(forged));
    writeFileSync(join(dir, "c.json"), "{ not json");
    const intake = new ReportIntake(f.chain, new MemoryReportBook());
    const out = await scanReportDirectory(intake, dir);
    expect(out.map((o) => [o.file, o.verdict.status])).to.deep.equal([
      ["a.json", "accepted"],
      ["b.json", "rejected"],
      ["c.json", "rejected"],
    ]);
    expect(existsSync(join(dir, "accepted", "a.json"))).to.equal(true);
    expect(readFileSync(join(dir, "rejected", "b.json.reason"), "utf8")).to.equal(
      `forged: signed by ${v3.address}, not by ${v1.address}\n`,
    );
    expect(readFileSync(join(dir, "rejected", "c.json.reason"), "utf8")).to.match(/^malformed: /);
    expect(await scanReportDirectory(intake, dir)).to.deep.equal([]);
  });
});
