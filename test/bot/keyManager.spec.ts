import { expect } from "chai";
import { Writable } from "node:stream";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet, parseEther, type BaseWallet } from "ethers";
import type { BotConfig, ClusterConfig } from "../../manager-bot/src/config";
import { botLogger, composeService } from "../../manager-bot/src/main";
import { signReport } from "../../manager-bot/src/report";
import { BotStore } from "../../manager-bot/src/store";
import { DEFAULT_TX_OPTIONS } from "../../manager-bot/src/tx";
import { buildCluster, systemFixture } from "../helpers/system";
import { reportBody } from "../helpers/reports";
import { devAccount } from "../helpers/temp";

const validators = [71, 72, 73].map((i) => new Wallet("0x" + String(i).padStart(64, "0")));

/** A cluster managed by a plain key (the development default: `f.manager`, dev account 10), with validators named. */
async function fixture() {
  const f = await systemFixture();
  const built = await buildCluster(f);
  for (const v of validators) await f.system.ddc.connect(f.manager).clusterSetValidator(built.cluster, v.address, true);
  // The validators count from the first era that ends after they were named.
  const [, , end] = await f.system.ddc.clusterEra(built.cluster);
  await time.increaseTo(end);
  return { ...f, ...built, core: await f.system.ddc.getAddress() };
}

const entry = (id: number, manager: ClusterConfig["manager"]): ClusterConfig => ({
  id,
  manager,
  routine: "operator",
  policy: { failingEras: 1, maxPerEra: 1 },
  missed: { mode: "catch-up", waitEras: 3 },
  settlement: null,
  paused: false,
});

/** The service over the in-process chain with the bot's key `wallet`, its log lines captured. */
async function setup(wallet: BaseWallet, manager: ClusterConfig["manager"]) {
  const f = await loadFixture(fixture);
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const config: BotConfig = {
    rpc: "http://127.0.0.1:8545",
    deployment: "(in process)",
    key: { kind: "env", name: "DDC_BOT_KEY" },
    replicas: [],
    store: ":memory:",
    schedule: "*/5 * * * *",
    http: { host: "127.0.0.1", port: 0 },
    intake: { host: "127.0.0.1", port: null, directory: null },
    evidence: { baseUrl: null },
    fromBlock: 0,
    clusters: [entry(Number(f.cluster), manager)],
    tx: { ...DEFAULT_TX_OPTIONS, receiptTimeoutMs: 5_000, pollMs: 50 },
    alerts: { minBalance: parseEther("0.1"), stuckAfterSeconds: 3600 },
    logLevel: "debug",
  };
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const store = new BotStore(":memory:");
  const record = { chainId, block: 0, contracts: f.system.contracts, parameters: null };
  const service = composeService({
    config,
    provider: ethers.provider,
    wallet,
    record,
    store,
    logger: botLogger("debug", sink),
  });
  const members = await f.system.ddc.clusterNodes(f.cluster);
  const era = Number((await f.system.ddc.clusterEra(f.cluster)).era) - 1;
  for (const v of validators) {
    const body = reportBody(f.cluster, era, members, (n) => (BigInt(n) === f.nodes[1] ? { retrievable: false } : {}));
    const signed = await signReport(v, chainId, f.core, body);
    expect((await service.intake.submit(signed, "test")).status).to.equal("accepted");
  }
  return { f, service, store, lines, era };
}

describe("manager bot: a cluster managed by a plain key", function () {
  it("the bot holding the manager's key sends every action itself: the distribution and the replacement", async function () {
    const manager = devAccount(10);
    const { f, service, store, era } = await setup(manager, { kind: "key" });
    expect(f.manager.address).to.equal(manager.address);
    const run = await service.run();
    expect(run.failed).to.deep.equal([]);
    const [c] = run.clusters;
    expect(c.decided.map((d) => d.era)).to.deep.equal([era]);
    expect(c.decided[0].records.map((r) => [r.kind, r.state, r.executor])).to.deep.equal([
      ["distribution", "executed", "operator"],
      ["replace-node", "executed", "operator"],
    ]);
    const ddc = f.system.ddc;
    const [replaced] = await ddc.queryFilter(ddc.filters.ClusterNodeReplaced(f.cluster));
    expect(replaced.args.node).to.equal(f.nodes[1]);
    expect((await replaced.getTransaction()).from).to.equal(manager.address);
    expect((await ddc.clusterNodes(f.cluster)).map(Number)).to.not.include(Number(f.nodes[1]));
    expect(store.open()).to.deep.equal([]);
  });

  it("with another key managing the cluster, the run fails and says what is needed; nothing is sent", async function () {
    const bot = devAccount(12);
    const { f, service, store, lines } = await setup(bot, { kind: "key" });
    const nonce = await ethers.provider.getTransactionCount(bot.address);
    const run = await service.run();
    expect(run.clusters).to.deep.equal([]);
    const expected =
      `cluster ${f.cluster}: its manager on chain is ${f.manager.address} (a plain key), but manager.kind "key" ` +
      `in the configuration acts as the bot's key ${bot.address}: with manager.kind "key" the bot sends every action ` +
      `itself, so it must run with that key (DDC_BOT_KEY); or the key hands the cluster to a Governor's Timelock or a ` +
      `Safe (clusterProposeManager, then accepted) and names the bot's key ${bot.address} an operator ` +
      `(clusterSetOperator) for the routine work`;
    expect(run.failed).to.deep.equal([{ cluster: Number(f.cluster), error: expected }]);
    expect(run.alerts.map((a) => a.alert)).to.deep.equal(["run-failed"]);
    expect(lines.find((l) => l.level === 50)?.msg).to.equal(`cluster ${f.cluster}: ${expected}`);
    expect(await ethers.provider.getTransactionCount(bot.address)).to.equal(nonce);
    expect(store.lastEra(Number(f.cluster))).to.equal(null);
  });

  it('a Governor configured for a cluster the bot\'s own key manages: the run names manager.kind "key"', async function () {
    const { f, service } = await setup(devAccount(10), { kind: "governor" });
    const timelock = await f.system.timelock.getAddress();
    const run = await service.run();
    expect(run.failed).to.deep.equal([
      {
        cluster: Number(f.cluster),
        error:
          `cluster ${f.cluster}: its manager on chain is ${f.manager.address} (a plain key), but manager.kind ` +
          `"governor" in the configuration acts as the Timelock ${timelock}: the bot's own key manages the cluster: ` +
          `set manager.kind "key"`,
      },
    ]);
  });

  it("a plain key configured for a cluster a contract manages: the run names the kinds to choose from", async function () {
    const { f, service } = await setup(devAccount(10), { kind: "key" });
    const timelock = await f.system.timelock.getAddress();
    await f.system.ddc.connect(f.manager).clusterProposeManager(f.cluster, timelock);
    await ethers.provider.send("hardhat_setBalance", [timelock, "0xde0b6b3a7640000"]);
    const asTimelock = await ethers.getImpersonatedSigner(timelock);
    await f.system.ddc.connect(asTimelock).clusterAcceptManager(f.cluster);
    const run = await service.run();
    expect(run.failed.map((x) => x.error)).to.deep.equal([
      `cluster ${f.cluster}: its manager on chain is ${timelock} (a contract), but manager.kind "key" in the ` +
        `configuration acts as the bot's key ${f.manager.address}: set manager.kind "governor" (a Governor's ` +
        `Timelock) or "safe" (with the Safe's address), whichever ${timelock} is`,
    ]);
  });
});
