import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, isAddress } from "ethers";
import { coreChainView } from "../../manager-bot/src/chain";
import {
  DEFAULT_BODY_LIMIT,
  ReportIntake,
  createReportServer,
  scanReportDirectory,
  type IntakeEvent,
} from "../../manager-bot/src/intake";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { MemoryReportBook, type ChainView } from "../../manager-bot/src/validate";
import { buildCluster, systemFixture } from "../helpers/system";

const [v1, v2, v3] = [51, 52, 53].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

/** `address` with the case of its first letter swapped: mixed case that fails the EIP-55 checksum. */
function badChecksum(address: string): string {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const c = address[i];
  const out = address.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + address.slice(i + 1);
  expect(isAddress(out), out).to.equal(false);
  return out;
}

const CHECKSUM = "the mixed case fails the EIP-55 checksum (write the address all lower-case, or fix it)";

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
    const nowhere = new ethers.JsonRpcProvider("http://127.0.0.1:9", f.chainId, { staticNetwork: true });
    const away = coreChainView(f.system.ddc.connect(nowhere), nowhere, f.chainId);
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
    writeFileSync(join(dir, "s.json"), JSON.stringify(await signReport(v2, f.chainId, f.core, f.body)));
    // The chain does not answer at all: the scan stops at the first file, and both wait.
    const out = await scanReportDirectory(intake, dir);
    expect(out).to.have.length(1);
    expect(out[0]).to.include({ file: "r.json" });
    expect((out[0] as { undecided: string }).undecided).to.match(/^cannot check the report now: /);
    expect(existsSync(join(dir, "r.json"))).to.equal(true);
    expect(existsSync(join(dir, "s.json"))).to.equal(true);
    expect(readdirSync(join(dir, "rejected"))).to.deep.equal([]);
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
    expect(out.map((o) => [o.file, "verdict" in o ? o.verdict.status : "undecided"])).to.deep.equal([
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

  it("a directory: a bad checksum among good files is rejected with its reason, the good ones are taken, the next scan works", async function () {
    const f = await loadFixture(intakeFixture);
    const dir = mkdtempSync(join(tmpdir(), "ddc-reports-"));
    const good1 = await signReport(v1, f.chainId, f.core, f.body);
    const good2 = await signReport(v2, f.chainId, f.core, f.body);
    writeFileSync(join(dir, "a.json"), JSON.stringify(good1));
    writeFileSync(join(dir, "b.json"), JSON.stringify({ ...good2, validator: badChecksum(v2.address) }));
    writeFileSync(join(dir, "c.json"), JSON.stringify(good2));
    const intake = new ReportIntake(f.chain, new MemoryReportBook());
    const first = await scanReportDirectory(intake, dir);
    expect(first.map((o) => [o.file, "verdict" in o ? o.verdict.status : "undecided"])).to.deep.equal([
      ["a.json", "accepted"],
      ["b.json", "rejected"],
      ["c.json", "accepted"],
    ]);
    expect(readdirSync(join(dir, "accepted")).sort()).to.deep.equal(["a.json", "c.json"]);
    expect(readFileSync(join(dir, "rejected", "b.json.reason"), "utf8")).to.equal(
      `malformed: validator: ${CHECKSUM}\n`,
    );
    // The next scan: a bad core is refused the same way; the accepted report written all
    // lower-case is the same report (a duplicate), not a new one.
    writeFileSync(join(dir, "d.json"), JSON.stringify({ ...good1, core: badChecksum(good1.core) }));
    const lower = { ...good1, core: good1.core.toLowerCase(), validator: good1.validator.toLowerCase() };
    writeFileSync(join(dir, "e.json"), JSON.stringify(lower));
    const second = await scanReportDirectory(intake, dir);
    expect(second.map((o) => [o.file, "verdict" in o ? o.verdict.status : "undecided"])).to.deep.equal([
      ["d.json", "rejected"],
      ["e.json", "rejected"],
    ]);
    expect(readFileSync(join(dir, "rejected", "d.json.reason"), "utf8")).to.equal(`malformed: core: ${CHECKSUM}\n`);
    expect(readFileSync(join(dir, "rejected", "e.json.reason"), "utf8")).to.match(/^duplicate: /);
    expect(readdirSync(dir).filter((n) => n.endsWith(".json"))).to.deep.equal([]);
    expect(intake.counters.accepted).to.equal(2);
    expect(intake.counters.rejected).to.deep.include({ malformed: 2, duplicate: 1 });
  });

  it("HTTP: a bad checksum, bytes beyond uint256, a body that is no JSON object, none, another type: 400 malformed", async function () {
    const f = await loadFixture(intakeFixture);
    const intake = new ReportIntake(f.chain, new MemoryReportBook());
    const server = await createReportServer(intake);
    const good = await signReport(v1, f.chainId, f.core, f.body);
    const json = { "content-type": "application/json" };
    const uint256 = (2n ** 256n).toString();
    const cases: [string, Record<string, string>, string | undefined, string][] = [
      ["a bad core checksum", json, JSON.stringify({ ...good, core: badChecksum(good.core) }), `core: ${CHECKSUM}`],
      [
        "a bad validator checksum",
        json,
        JSON.stringify({ ...good, validator: badChecksum(good.validator) }),
        `validator: ${CHECKSUM}`,
      ],
      [
        "2^256 bytes",
        json,
        JSON.stringify({ ...good, report: { ...good.report, buckets: [{ bucket: 1, measuredBytes: uint256 }] } }),
        "report.buckets.0.measuredBytes: a decimal integer string of at most 77 digits",
      ],
      ["an array", json, "[1, 2]", "(root): Invalid input: expected object, received array"],
      ["null", json, "null", "(root): Invalid input: expected object, received null"],
      ["a string", json, '"a report"', "(root): Invalid input: expected object, received string"],
      [
        "an empty body",
        json,
        "",
        "the body is not a JSON report: Body cannot be empty when content-type is set to 'application/json'",
      ],
      [
        "broken JSON",
        json,
        "{ nope",
        "the body is not a JSON report: Body is not valid JSON but content-type is set to 'application/json'",
      ],
      [
        "text/plain",
        { "content-type": "text/plain" },
        JSON.stringify(good),
        "the body must be JSON (content-type application/json), not text/plain",
      ],
      ["no body", {}, undefined, "no body: send the signed report as JSON (application/json)"],
    ];
    try {
      for (const [what, headers, payload, detail] of cases) {
        const r = await server.inject({ method: "POST", url: "/reports", headers, payload });
        expect(r.statusCode, what).to.equal(400);
        expect(r.json(), what).to.deep.equal({ status: "rejected", reason: "malformed", detail });
      }
      // The largest byte count a report can carry (77 digits) fits uint256: signed and accepted.
      const most = await signReport(v2, f.chainId, f.core, {
        ...f.body,
        buckets: [{ bucket: 1, measuredBytes: "9".repeat(77) }],
      });
      expect((await server.inject({ method: "POST", url: "/reports", payload: most })).statusCode).to.equal(202);
      expect((await server.inject({ method: "POST", url: "/reports", payload: good })).statusCode).to.equal(202);
      expect(intake.counters.accepted).to.equal(2);
      expect(intake.counters.rejected.malformed).to.equal(cases.length);
    } finally {
      await server.close();
    }
  });

  it("HTTP: the body limit: a 100,000-bucket report is taken by default, a body over the limit is 413 naming it", async function () {
    const f = await loadFixture(intakeFixture);
    const intake = new ReportIntake(f.chain, new MemoryReportBook());
    const server = await createReportServer(intake);
    const small = await createReportServer(intake, { bodyLimit: 4096 });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    const smallUrl = await small.listen({ host: "127.0.0.1", port: 0 });
    const post = async (at: string, body: string) => {
      const r = await fetch(`${at}/reports`, { method: "POST", headers: { "content-type": "application/json" }, body });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    try {
      const buckets = Array.from({ length: 100_000 }, (_, i) => ({ bucket: i + 1, measuredBytes: "1073741824" }));
      const big = JSON.stringify(await signReport(v1, f.chainId, f.core, { ...f.body, buckets }));
      expect(big.length).to.be.within(4_400_000, 4_800_000);
      const accepted = await post(url, big);
      expect(accepted.status).to.equal(202);
      expect(accepted.json.status).to.equal("accepted");
      expect(DEFAULT_BODY_LIMIT).to.equal(8 * 1024 * 1024);
      expect(await post(url, JSON.stringify({ pad: "x".repeat(DEFAULT_BODY_LIMIT) }))).to.deep.equal({
        status: 413,
        json: {
          status: "too-large",
          limit: DEFAULT_BODY_LIMIT,
          detail: "the body is over the intake's limit of 8388608 bytes",
        },
      });
      expect(await post(smallUrl, big)).to.deep.equal({
        status: 413,
        json: { status: "too-large", limit: 4096, detail: "the body is over the intake's limit of 4096 bytes" },
      });
      // A body over the limit is no report: not counted.
      expect(intake.counters.accepted).to.equal(1);
      expect(Object.values(intake.counters.rejected).every((n) => n === 0)).to.equal(true);
    } finally {
      await server.close();
      await small.close();
    }
  });

  it("a transient failure of one report's reads leaves it waiting, the others go on; any other failure is unverifiable", async function () {
    const f = await loadFixture(intakeFixture);
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" });
    const garbled = Object.assign(new Error("could not decode result data"), { code: "BAD_DATA" });
    // Cluster 99's reads fail as if the node were away; cluster 98's with an answer that makes no sense.
    const flaky: ChainView = {
      ...f.chain,
      eraEnd: async (cluster, era) => {
        if (cluster === 99) throw refused;
        if (cluster === 98) throw garbled;
        return f.chain.eraEnd(cluster, era);
      },
    };
    const intake = new ReportIntake(flaky, new MemoryReportBook());
    const dir = mkdtempSync(join(tmpdir(), "ddc-reports-"));
    const wait = await signReport(v1, f.chainId, f.core, { ...f.body, cluster: 99 });
    const odd = await signReport(v1, f.chainId, f.core, { ...f.body, cluster: 98 });
    writeFileSync(join(dir, "a.json"), JSON.stringify(wait));
    writeFileSync(join(dir, "b.json"), JSON.stringify(odd));
    writeFileSync(join(dir, "c.json"), JSON.stringify(await signReport(v1, f.chainId, f.core, f.body)));
    const out = await scanReportDirectory(intake, dir);
    expect(out.map((o) => [o.file, "verdict" in o ? o.verdict.status : o.undecided])).to.deep.equal([
      ["a.json", "cannot check the report now: connect ECONNREFUSED 127.0.0.1:8545"],
      ["b.json", "rejected"],
      ["c.json", "accepted"],
    ]);
    expect(existsSync(join(dir, "a.json"))).to.equal(true);
    expect(readFileSync(join(dir, "rejected", "b.json.reason"), "utf8")).to.equal(
      "unverifiable: the bot could not check the report: could not decode result data\n",
    );
    // The waiting file is tried again at the next scan.
    expect((await scanReportDirectory(intake, dir)).map((o) => o.file)).to.deep.equal(["a.json"]);
    const server = await createReportServer(intake);
    try {
      const r = await server.inject({ method: "POST", url: "/reports", payload: wait });
      expect(r.statusCode).to.equal(503);
      expect(r.json()).to.deep.equal({
        status: "unavailable",
        detail: "cannot check the report now: connect ECONNREFUSED 127.0.0.1:8545",
      });
      const o = await server.inject({ method: "POST", url: "/reports", payload: odd });
      expect(o.statusCode).to.equal(500);
      expect(o.json()).to.deep.equal({
        status: "rejected",
        reason: "unverifiable",
        detail: "the bot could not check the report: could not decode result data",
      });
    } finally {
      await server.close();
    }
    expect(intake.counters.accepted).to.equal(1);
    expect(intake.counters.rejected).to.deep.include({ unverifiable: 2, malformed: 0 });
  });
});
