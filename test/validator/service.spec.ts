import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import Fastify, { type FastifyInstance } from "fastify";
import { ethers } from "hardhat";
import pino from "pino";
import { reportSigner, signedReportSchema } from "../../manager-bot/src/report";
import { parseValidatorConfig } from "../../validator/src/config";
import type { Clock } from "../../validator/src/eraRun";
import { ValidatorMetrics } from "../../validator/src/metrics";
import { startValidator, type RunningValidator } from "../../validator/src/service";
import type { EraOutcome } from "../../validator/src/types";
import { buildNet, ownerClient, type Net } from "../storage-node/replication/harness";
import { fastHardhatChain } from "../helpers/fastChain";
import { tempDir } from "../helpers/temp";

/** The chain's time at SPEED × the wall clock (blocks mined at that time): an era of an hour in 10 s. */
const SPEED = 360;

describe("validator: the service", function () {
  this.timeout(120_000);
  let net: Net;
  let bot: FastifyInstance;
  let chain: Awaited<ReturnType<typeof fastHardhatChain>> | undefined;
  let running: RunningValidator | undefined;
  let fast: Clock;
  const received: unknown[] = [];

  before(async () => {
    chain = await fastHardhatChain(SPEED);
    fast = chain.clock;
    net = await buildNet(3, 3, { eraClock: fast.now });
    const app = await ownerClient(net);
    for (let i = 0; i < 5; i++) {
      const r = await app.put(net.nodes[i % 3], `doc-${i}`, Buffer.alloc(3000 + i, i));
      expect(r.status).to.equal(201);
    }
    // A bot's intake that is away for its first answer (503), then accepts.
    bot = Fastify();
    let calls = 0;
    bot.post("/reports", async (req, reply) => {
      calls++;
      if (calls === 1) return reply.code(503).send({ status: "unavailable", detail: "the RPC node is away" });
      received.push(req.body);
      return reply.code(202).send({ status: "accepted", digest: `0x${"ab".repeat(32)}` });
    });
    await bot.listen({ host: "127.0.0.1", port: 0 });
  });

  after(async () => {
    await running?.stop();
    chain?.stop();
    await bot?.close();
    await net?.close();
  });

  it("measures each era, signs the report, keeps it with a detail file, and sends it to the bot, trying again", async () => {
    const wallet = ethers.Wallet.createRandom();
    await net.ddc.connect(net.manager).clusterSetValidator(net.cluster, wallet.address, true);
    const dir = tempDir("ddc-validator-");
    const address = bot.server.address() as { port: number };
    const config = parseValidatorConfig(
      {
        chain: { rpcUrl: "http://127.0.0.1:8545", core: net.coreAddress },
        key: { env: "V_KEY" },
        clusters: [net.cluster],
        bots: [{ url: `http://127.0.0.1:${address.port}` }],
        dataDir: dir,
        challenges: { perNode: 10, timeoutMs: 2000 },
        submit: { attempts: 3, backoffMs: 50 },
        ops: { host: "127.0.0.1", port: 0 },
      },
      join(dir, "v.json"),
      { V_KEY: wallet.privateKey },
    );
    const metrics = new ValidatorMetrics();
    const outcomes: EraOutcome[] = [];
    running = await startValidator(config, {
      signer: wallet,
      provider: ethers.provider,
      logger: pino({ level: "silent" }),
      clock: fast,
      metrics,
      onEra: (o) => outcomes.push(o),
    });
    expect(running.address).to.equal(wallet.address);
    // The era it started in (measured from then on) and the next, whole.
    const deadline = Date.now() + 60_000;
    while (outcomes.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(outcomes.length, "two eras reported within a minute").to.be.at.least(2);
    const o = outcomes[1];
    expect(o.cluster).to.equal(net.cluster);
    expect(o.era).to.equal(outcomes[0].era + 1);
    expect(o.nodes.map((n) => [n.node, n.retrievable, n.score])).to.deep.equal(
      net.nodes.map((n) => [n.id, true, 10_000]),
    );
    expect(o.nodes.every((n) => n.probes.sent >= 20 && n.challenges.passed === 10)).to.equal(true);
    expect(o.buckets).to.deep.equal([{ bucket: Number(net.bucket), measuredBytes: 15_010n, unconfirmedKeys: 0 }]);
    // Sent: the first try met a 503, the second was accepted.
    expect(outcomes[0].submitted).to.deep.equal([
      { to: config.bots[0].url, ok: true, detail: `accepted: digest 0x${"ab".repeat(32)}` },
    ]);
    // The copy and the detail file, whole; the report signed by the validator, as the bot received it.
    expect(existsSync(o.files.report)).to.equal(true);
    const copy = signedReportSchema.parse(JSON.parse(readFileSync(o.files.report, "utf8")));
    expect(reportSigner(copy)).to.equal(wallet.address);
    expect(copy.report).to.deep.equal(o.report.report);
    expect(received.map((r) => JSON.stringify(r))).to.include(JSON.stringify(o.report));
    const detail = JSON.parse(readFileSync(o.files.detail, "utf8")) as {
      validator: string;
      nodes: { node: number; probes: { sent: number } }[];
      submitted: unknown[];
    };
    expect(detail.validator).to.equal(wallet.address);
    expect(detail.nodes.map((n) => n.node)).to.deep.equal(net.nodes.map((n) => n.id));
    expect(detail.submitted).to.have.length(1);
    // Health and metrics.
    const health = await fetch(`${running.opsOrigin}/health`);
    expect(await health.json()).to.deep.include({ status: "ok", validator: wallet.address });
    const text = await (await fetch(`${running.opsOrigin}/metrics`)).text();
    expect(text).to.match(/ddc_validator_reports_total\{outcome="accepted"\} [2-9]/);
    expect(text).to.include(`ddc_validator_last_reported_era{cluster="${net.cluster}"} `);
    expect(text).to.match(/ddc_validator_challenges_total\{outcome="passed"\} \d+/);
  });
});
