import { expect } from "chai";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet, getAddress } from "ethers";
import {
  checkSignedReport,
  postReport,
  readReportBody,
  reportsUrl,
  signReportFile,
  submitReportFile,
} from "../../cli/commands/validator";
import { CliError } from "../../cli/errors";
import { ReportIntake, createReportServer, scanReportDirectory } from "../../manager-bot/src/intake";
import { reportDigest, reportSigner, signReport, type ReportBody } from "../../manager-bot/src/report";
import { MemoryReportBook, validateReport, type ChainView } from "../../manager-bot/src/validate";
import { freePort } from "../helpers/localNode";
import { tempDir } from "../helpers/temp";
import { runDdc } from "../helpers/ddcProcess";

const ROOT = join(__dirname, "..", "..");
const CHAIN = 31337;
const CORE = getAddress("0x00000000000000000000000000000000000c0de1");
const [v1, v2] = [61, 62].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

/** Cluster 1's era 5 ended at t = 1,000, it is 2,000; v1 and v2 are its validators. */
const chain: ChainView = {
  chainId: CHAIN,
  core: CORE,
  eraEnd: async (cluster, era) => (cluster === 1 ? 1000n + BigInt(era - 5) * 100n : undefined),
  validatorsAt: async () => new Set([v1.address, v2.address]),
  now: async () => 2000n,
};

const node = (id: number, score: number) => ({
  node: id,
  availabilityBps: 9990,
  latencyMs: 30,
  retrievable: true,
  score,
});
/** A body as a validator might write it: nodes and buckets in no particular order. */
const unordered = {
  cluster: 1,
  era: 5,
  nodes: [node(3, 9000), node(1, 9900), node(2, 9500)],
  buckets: [
    { bucket: 9, measuredBytes: "10" },
    { bucket: 2, measuredBytes: "20" },
  ],
};
const ordered: ReportBody = {
  ...unordered,
  nodes: [node(1, 9900), node(2, 9500), node(3, 9000)],
  buckets: [
    { bucket: 2, measuredBytes: "20" },
    { bucket: 9, measuredBytes: "10" },
  ],
};

function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** A report server over a fresh book, on loopback. */
async function intakeServer() {
  const intake = new ReportIntake(chain, new MemoryReportBook());
  const server = await createReportServer(intake);
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  return { intake, server, url };
}

describe("ddc validator: sign a report, submit it", function () {
  const dir = tempDir("validator");

  it("sign-report: a body in any order is put in id order, signed as signReport signs it, and the bot accepts it", async function () {
    const signed = await signReportFile(writeJson(dir, "body.json", unordered), v1, CHAIN, CORE.toLowerCase());
    expect(signed).to.deep.equal(await signReport(v1, CHAIN, CORE, ordered));
    expect(reportSigner(signed)).to.equal(v1.address);
    expect(await validateReport(signed, chain, new MemoryReportBook())).to.deep.include({
      status: "accepted",
      digest: reportDigest(CHAIN, CORE, ordered),
      validator: v1.address,
    });
  });

  it("sign-report: a bad body is refused with every field named; an id listed twice too", async function () {
    const bad = {
      cluster: 0,
      era: 5,
      nodes: [node(1, 10_001), { ...node(2, 9000), retrievable: "yes" }],
      buckets: [{ bucket: 1, measuredBytes: 5 }],
      validator: v1.address,
    };
    expect(() => readReportBody(bad, "body.json")).to.throw(
      [
        "the report body body.json is not valid:",
        "  - cluster: Too small: expected number to be >=1",
        "  - nodes.0.score: Too big: expected number to be <=10000",
        "  - nodes.1.retrievable: Invalid input: expected boolean, received string",
        "  - buckets.0.measuredBytes: Invalid input: expected string, received number",
        '  - (root): Unrecognized key: "validator"',
      ].join("\n"),
    );
    const twice = {
      ...unordered,
      nodes: [node(2, 1), node(1, 1), node(2, 3)],
      buckets: [unordered.buckets[0], unordered.buckets[0]],
    };
    expect(() => readReportBody(twice, "twice.json")).to.throw(
      "the report body twice.json is not valid:\n  - nodes: node 2 is listed twice\n  - buckets: bucket 9 is listed twice",
    );
    await expect(signReportFile(join(dir, "nowhere.json"), v1, CHAIN, CORE)).to.be.rejectedWith(
      `no report body at ${join(dir, "nowhere.json")}`,
    );
  });

  it("submit: a file changed after signing, or not a signed report, is refused before anything is sent", async function () {
    const { intake, server, url } = await intakeServer();
    let requests = 0;
    server.server.on("request", () => requests++);
    try {
      const signed = await signReport(v1, CHAIN, CORE, ordered);
      const tampered = { ...signed, report: { ...signed.report, nodes: [node(1, 10_000), ...ordered.nodes.slice(1)] } };
      const file = writeJson(dir, "tampered.json", tampered);
      const signer = reportSigner(tampered);
      await expect(submitReportFile(file, url)).to.be.rejectedWith(
        `the report ${file} is signed by ${signer}, not by its validator ${v1.address}: it was changed after signing, or signed with another key; not sent`,
      );
      const claimed = writeJson(dir, "claimed.json", {
        ...(await signReport(v2, CHAIN, CORE, ordered)),
        validator: v1.address,
      });
      await expect(submitReportFile(claimed, url)).to.be.rejectedWith(
        `is signed by ${v2.address}, not by its validator`,
      );
      // The case of one letter swapped: mixed case that fails the EIP-55 checksum.
      const at = v1.address.slice(2).search(/[a-fA-F]/) + 2;
      const swapped =
        v1.address[at] === v1.address[at].toLowerCase() ? v1.address[at].toUpperCase() : v1.address[at].toLowerCase();
      const badCase = v1.address.slice(0, at) + swapped + v1.address.slice(at + 1);
      const malformed = writeJson(dir, "malformed.json", { ...signed, validator: badCase });
      await expect(submitReportFile(malformed, url)).to.be.rejectedWith(
        `the signed report ${malformed} is not valid:\n  - validator: the mixed case fails the EIP-55 checksum (write the address all lower-case, or fix it)`,
      );
      expect(() => checkSignedReport({ ...signed, signature: "0x1234" }, "x.json")).to.throw(
        "the signed report x.json is not valid:\n  - signature: a 65-byte signature",
      );
      try {
        checkSignedReport(ordered, "body.json");
        expect.fail("an unsigned body was taken");
      } catch (error) {
        expect((error as CliError).hint).to.equal(
          "this is a report body: sign it first (`ddc validator sign-report <body.json>`)",
        );
      }
      expect(requests).to.equal(0);
      expect(intake.counters.accepted).to.equal(0);
    } finally {
      await server.close();
    }
  });

  it("submit over HTTP: accepted with its digest, then a duplicate; busy answers and a closed port are tried again", async function () {
    const { server, url } = await intakeServer();
    try {
      const signed = await signReport(v1, CHAIN, CORE, ordered);
      const file = writeJson(dir, "signed.json", signed);
      expect(reportsUrl(url)).to.equal(`${url}/reports`);
      expect(reportsUrl(`${url}/reports/`)).to.equal(`${url}/reports/`);
      expect(await submitReportFile(file, url)).to.deep.equal({
        kind: "http",
        answer: { status: "accepted", digest: reportDigest(CHAIN, CORE, ordered) },
      });
      expect(await submitReportFile(file, `${url}/`)).to.deep.equal({
        kind: "http",
        answer: {
          status: "rejected",
          reason: "duplicate",
          detail: `this report of ${v1.address} for era 5 was accepted already`,
          http: 409,
        },
      });
    } finally {
      await server.close();
    }
    // A bot that cannot check reports for a while (503), then can.
    const answers = [503, 503, 202];
    const seen: string[] = [];
    const busy: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const status = answers.shift()!;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          status === 202
            ? { status: "accepted", digest: "0xd1" }
            : { status: "unavailable", detail: "cannot check the report now: connect ECONNREFUSED" },
        ),
      );
    });
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const busyUrl = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
    const progress: string[] = [];
    try {
      const signed = await signReport(v2, CHAIN, CORE, ordered);
      expect(await postReport(signed, busyUrl, { backoffMs: 5, progress: (l) => progress.push(l) })).to.deep.equal({
        status: "accepted",
        digest: "0xd1",
      });
      expect(seen).to.deep.equal(["POST /reports", "POST /reports", "POST /reports"]);
      expect(progress).to.deep.equal([
        "try 1 of 4: cannot check the report now: connect ECONNREFUSED; again in 0.005 s",
        "try 2 of 4: cannot check the report now: connect ECONNREFUSED; again in 0.01 s",
      ]);
      const closed = `http://127.0.0.1:${await freePort()}`;
      expect(await postReport(signed, closed, { attempts: 3, backoffMs: 5 })).to.deep.equal({
        status: "unanswered",
        detail: `cannot reach the bot at ${closed}/…: ECONNREFUSED`,
      });
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it("submit into the reports directory: written whole under its name and taken by the bot; a second, different report refused", async function () {
    const reports = tempDir("validator-reports");
    const signed = await signReport(v1, CHAIN, CORE, ordered);
    const file = writeJson(dir, "signed-dir.json", signed);
    const name = `1-5-${v1.address}.json`;
    expect(await submitReportFile(file, reports)).to.deep.equal({
      kind: "directory",
      path: join(reports, name),
      written: true,
    });
    expect(readdirSync(reports)).to.deep.equal([name]);
    expect(JSON.parse(readFileSync(join(reports, name), "utf8"))).to.deep.equal(signed);
    // The same again: nothing to do. Another report for that era: refused, the first one kept.
    expect(await submitReportFile(file, reports)).to.deep.include({ written: false });
    const other = writeJson(dir, "other.json", await signReport(v1, CHAIN, CORE, { ...ordered, nodes: [node(1, 1)] }));
    await expect(submitReportFile(other, reports)).to.be.rejectedWith(
      `a different report of ${v1.address} for era 5 of cluster 1 is waiting at ${join(reports, name)}: not written`,
    );
    const intake = new ReportIntake(chain, new MemoryReportBook());
    const scanned = await scanReportDirectory(intake, reports);
    expect(scanned.map((o) => ("verdict" in o ? [o.file, o.verdict.status] : [o.file, o.undecided]))).to.deep.equal([
      [name, "accepted"],
    ]);
    await expect(submitReportFile(other, reports)).to.be.rejectedWith(
      `a different report of ${v1.address} for era 5 of cluster 1 was accepted already (${join(reports, "accepted", name)}): not written`,
    );
    await expect(submitReportFile(file, reports)).to.be.rejectedWith("was accepted already");
    expect(existsSync(join(reports, name))).to.equal(false);
    await expect(submitReportFile(file, join(reports, "nowhere"))).to.be.rejectedWith(
      `no directory at ${join(reports, "nowhere")}`,
    );
  });

  it("the command line: sign-report --out, then submit to the bot (accepted; again: a duplicate, exit 1)", async function () {
    this.timeout(180_000);
    const record = writeJson(dir, "record.json", {
      chainId: CHAIN,
      block: 0,
      contracts: Object.fromEntries(
        ["DDCCore", "PaymentToken", "DDCGovernor", "DDCGovernanceToken", "TimelockController"].map((n) => [n, CORE]),
      ),
      parameters: {},
    });
    const ddc = async (args: string[]) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, "bin", "ddc"), ...args], {
          cwd: ROOT,
          env: { PATH: process.env.PATH, DDC_PRIVATE_KEY: v2.privateKey },
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const body = writeJson(dir, "cli-body.json", unordered);
    const out = join(dir, "cli-signed.json");
    const signed = await ddc(["--deployment", record, "validator", "sign-report", body, "--out", out]);
    expect(signed).to.deep.include({ code: 0, stdout: "" });
    expect(signed.stderr).to.equal(
      `signed by ${v2.address}: cluster 1, era 5, 3 nodes, 2 buckets, chain ${CHAIN}, core ${CORE}\n`,
    );
    expect(readFileSync(out, "utf8")).to.equal(
      `${JSON.stringify(await signReport(v2, CHAIN, CORE, ordered), null, 2)}\n`,
    );
    const { intake, server, url } = await intakeServer();
    try {
      expect(await ddc(["validator", "submit", out, "--to", url])).to.deep.equal({
        code: 0,
        stdout: `accepted: digest ${reportDigest(CHAIN, CORE, ordered)}\n`,
        stderr: "",
      });
      expect(await ddc(["validator", "submit", out, "--to", url])).to.deep.equal({
        code: 1,
        stdout: "",
        stderr: `error: the bot rejected the report: duplicate: this report of ${v2.address} for era 5 was accepted already\nhint: the bot has this report already: nothing to do\n`,
      });
      expect(intake.counters.accepted).to.equal(1);
      expect(intake.counters.rejected.duplicate).to.equal(1);
    } finally {
      await server.close();
    }
  });
});

describe("ddc validator run", function () {
  this.timeout(60_000);

  it("refuses a bad configuration before anything starts, every problem named; a missing file named", async () => {
    const dir = tempDir("ddc-validator-run-");
    const file = join(dir, "validator.json");
    writeFileSync(
      file,
      JSON.stringify({
        chain: { rpcUrl: "http://127.0.0.1:1", core: "0x12" },
        key: { env: "DDC_TEST_VALIDATOR_KEY" },
        dataDir: "data",
        probes: { perEra: 3 },
      }),
    );
    const bad = await runDdc(["validator", "run", "--config", file], { PATH: process.env.PATH });
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include(`invalid validator configuration ${file}`);
    expect(bad.stderr).to.include("chain.core: an address (0x + 40 hex digits)");
    expect(bad.stderr).to.include("probes.perEra: Too small: expected number to be >=20");
    const missing = await runDdc(["validator", "run", "--config", join(dir, "none.json")], { PATH: process.env.PATH });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include("no such file");
  });

  it("a valid configuration whose RPC node is away: a clear error, exit 1", async () => {
    const dir = tempDir("ddc-validator-run-");
    const file = join(dir, "validator.json");
    writeFileSync(
      file,
      JSON.stringify({
        chain: { rpcUrl: `http://127.0.0.1:${await freePort()}`, core: `0x${"11".repeat(20)}` },
        key: { env: "DDC_TEST_VALIDATOR_KEY" },
        dataDir: "data",
      }),
    );
    const r = await runDdc(["validator", "run", "--config", file], {
      PATH: process.env.PATH,
      DDC_TEST_VALIDATOR_KEY: Wallet.createRandom().privateKey,
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/error: .*(ECONNREFUSED|connect|network)/i);
  });
});
