import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Contract, JsonRpcProvider, Wallet, ZeroAddress, getAddress, id as idOf, parseEther } from "ethers";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { SAFE_CONTRACT_NAMES, createSafe, safeConfig, type SafeSingletons } from "../../deploy/safe";
import { settledRecords } from "../../cli/commands/owner";
import { coreChainView } from "../../manager-bot/src/chain";
import { decideEra } from "../../manager-bot/src/decide";
import { ReportIntake, scanReportDirectory } from "../../manager-bot/src/intake";
import { reportSigner, signedReportSchema, type SignedReport } from "../../manager-bot/src/report";
import { MemoryReportBook } from "../../manager-bot/src/validate";
import { DDCGovernanceToken__factory, DDCGovernor__factory, IDDC__factory } from "../../typechain-types";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { devAccount, tempDir } from "../helpers/temp";
import { runDdc, ROOT, type DdcResult } from "../helpers/ddcProcess";

const run = promisify(execFile);

const USD = 1_000_000n;

/** A key a party holds. */
type Key = { address: string; privateKey: string };

type Result = DdcResult;

/**
 * Each party from a FRESH account (a random key the node never funded), driving `ddc` as separate
 * processes against `npx hardhat node` with the demo world deployed: the faucet is how a
 * newcomer starts, and every bad input is refused with a clear error before anything is sent
 * (the account's nonce and balances are checked unchanged).
 */
describe("the parties from fresh accounts, with ddc against npx hardhat node", function () {
  this.timeout(1_800_000);
  let node: LocalNode;
  let record: DeploymentRecord;
  let provider: JsonRpcProvider;
  let token: Contract;
  const dir = tempDir("parties");
  let env: NodeJS.ProcessEnv;
  const owner = Wallet.createRandom();
  const operator = Wallet.createRandom();

  /** `ddc <args>` as `key` (or with no key), in a separate process. */
  async function ddc(args: string[], key?: Key): Promise<Result> {
    const e = { ...env };
    delete e.DDC_PRIVATE_KEY;
    if (key !== undefined) e.DDC_PRIVATE_KEY = key.privateKey;
    return runDdc(args, e);
  }

  async function ok(args: string[], key?: Key): Promise<string> {
    const r = await ddc(["--quiet", ...args], key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  }

  async function json<T>(args: string[], key?: Key): Promise<T> {
    return JSON.parse(await ok(["--json", ...args], key)) as T;
  }

  /** What a refused command must leave as it was: the account's nonce, native and token balances. */
  async function state(address: string): Promise<[number, bigint, bigint]> {
    return [
      await provider.getTransactionCount(address),
      await provider.getBalance(address),
      (await token.balanceOf(address)) as bigint,
    ];
  }

  /** Runs `args`, expects exit 1 with `message` on stderr, and nothing sent by `key`. */
  async function refused(args: string[], key: Key, message: string | RegExp): Promise<Result> {
    const before = await state(key.address);
    const r = await ddc(args, key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stdout}${r.stderr}`).to.equal(1);
    if (typeof message === "string") expect(r.stderr).to.include(`error: ${message}`);
    else expect(r.stderr).to.match(message);
    expect(await state(key.address), "nothing sent").to.deep.equal(before);
    return r;
  }

  async function travel(seconds: number): Promise<void> {
    await provider.send("evm_increaseTime", [seconds]);
    await provider.send("evm_mine", []);
  }

  before(async function () {
    node = await startNode("hardhat", await freePort());
    provider = new JsonRpcProvider(node.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
    env = {
      ...process.env,
      DDC_LOCAL_RPC: node.url,
      DDC_DEPLOYMENTS_DIR: dir,
      HARDHAT_DISABLE_TELEMETRY_PROMPT: "true",
    };
    await run(join(ROOT, "node_modules", ".bin", "hardhat"), ["deploy", "--network", "localhost", "--demo"], {
      cwd: ROOT,
      env,
    });
    record = readRecord(join(dir, "localhost.json"))!;
    token = new Contract(
      record.contracts.PaymentToken,
      ["function balanceOf(address) view returns (uint256)"],
      provider,
    );
  });
  after(async function () {
    await node?.stop();
  });

  it("a new owner: faucet, balance, deposit, bucket, unlock refused over free, unlock, wait, withdraw", async function () {
    const me = owner.address;
    // A fresh account: nothing at all, no ledger.
    const empty = await json<{ native: string; balance: string; ledgers: unknown[]; token: { symbol: string } }>(
      ["account", "balance"],
      owner,
    );
    expect(empty).to.deep.include({ owner: me, native: "0", balance: "0", allowance: "0", ledgers: [] });
    expect(empty.token).to.deep.include({ symbol: "tUSD", decimals: 6 });

    // The faucet: tokens, and native tokens for gas.
    const got = await ok(["token", "faucet", "500"], owner);
    expect(got).to.equal(`faucet: 500 tUSD to ${me}, and 10.0 of the native token for gas\nbalance 500 tUSD\n`);
    expect(await state(me)).to.deep.equal([0, parseEther("10"), 500n * USD]);
    await refused(
      ["token", "faucet", "1000001"],
      owner,
      "the faucet gives at most 1000000 tUSD a call, asked 1000001 tUSD: nothing sent",
    );
    await refused(["token", "faucet", "12,5"], owner, 'amount must be a decimal number, got "12,5"');

    // Deposits: over the wallet's balance, a malformed amount, an unknown cluster: nothing sent.
    await refused(
      ["account", "deposit", "1", "600"],
      owner,
      `${me} holds 500 tUSD, less than the 600 tUSD to deposit: nothing sent`,
    );
    await refused(["account", "deposit", "1", "1.0000001"], owner, 'amount "1.0000001" has more than 6 decimals');
    await refused(["account", "deposit", "1", "abc"], owner, 'amount must be a decimal number, got "abc"');
    await refused(["account", "deposit", "9", "10"], owner, "reverted: ClusterNotFound(cluster=9)");

    // --dry-run: the first transaction (the approval) simulated and shown decoded, nothing sent.
    const dry = await ddc(["--dry-run", "account", "deposit", "1", "200"], owner);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include("dry run: nothing was sent");
    expect(dry.stdout).to.match(/PaymentToken\.approve\(spender=0x[0-9a-fA-F]{40}, value=200 tUSD\)/);
    expect(await state(me)).to.deep.equal([0, parseEther("10"), 500n * USD]);

    const deposited = await ok(["account", "deposit", "1", "200"], owner);
    expect(deposited).to.equal("deposited 200 tUSD into cluster 1; ledger balance 200 tUSD\n");
    expect(await provider.getTransactionCount(me)).to.equal(2); // the approval and the deposit
    expect((await token.balanceOf(me)) as bigint).to.equal(300n * USD);

    // A bucket: its id printed, and returned with --json.
    const created = await ok(["bucket", "create", "1"], owner);
    expect(created).to.equal("bucket 5 created in cluster 1\n");
    const second = await json<{ bucket: string; cluster: string }>(["bucket", "create", "1"], owner);
    expect(second).to.deep.include({ bucket: "6", cluster: "1" });
    await ok(["bucket", "alloc", "5", "10"], owner);

    // Free is less than the balance now (the runway of 10 units): an unlock above it is refused,
    // naming what is free.
    const ledger = await json<{ balance: string; free: string; runway: string; units: string; status: string }>(
      ["account", "show", "1"],
      owner,
    );
    expect(ledger).to.deep.include({ units: "10", status: "active" });
    const free = BigInt(ledger.free);
    expect(free < 200n * USD && free > 190n * USD, `free ${free}`).to.equal(true);
    const over = await refused(
      ["account", "withdraw", "1", "200"],
      owner,
      /error: only (\d+\.\d+) tUSD can be freed now in cluster 1 \(balance (\d+(?:\.\d+)?) tUSD less rent owed, debt and runway\), asked 200 tUSD: not unlocked, nothing sent/,
    );
    const named = /only (\d+)\.(\d+) tUSD/.exec(over.stderr)!;
    const namedFree = BigInt(named[1]) * USD + BigInt(named[2].padEnd(6, "0"));
    // Rent accrues by the second: what is named is what was free a few seconds after the read.
    expect(namedFree <= free && free - namedFree < USD / 100n, `${namedFree} vs ${free}`).to.equal(true);
    expect(over.stderr).to.match(/hint: ask for at most \d+\.\d+ tUSD/);
    // A ledger never paid into cannot be unlocked.
    await refused(
      ["account", "withdraw", "2", "10"],
      owner,
      `the ledger of ${me} in cluster 2 is empty: nothing to unlock, nothing sent`,
    );
    await refused(["account", "withdraw", "1", "0"], owner, 'amount must be more than 0, got "0"');

    // A valid unlock, a withdrawal too early (when it unlocks, as a time), then after the delay.
    const unlocked = await ok(["account", "withdraw", "1", "50"], owner);
    expect(unlocked).to.match(
      /^unlocked 50 tUSD: withdraw from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 7 d\) \(run the same command again then\)\n$/,
    );
    await refused(
      ["account", "withdraw", "1", "50"],
      owner,
      /error: 50 tUSD unlocks \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (7 d|6 d 23 h)\): nothing sent/,
    );
    await travel(7 * 86_400 + 60);
    const withdrawn = await ok(["account", "withdraw", "1", "50"], owner);
    expect(withdrawn).to.equal(`withdrew 50 tUSD from cluster 1 to ${me}\n`);
    expect((await token.balanceOf(me)) as bigint).to.equal(350n * USD);

    // The wallet and every ledger, in words and in raw integers.
    const all = await json<{
      balance: string;
      allowance: string;
      ledgers: { cluster: string; units: string; status: string; balance: string; unlockAmount: string }[];
    }>(["account", "balance", "--owner", me]);
    expect(all).to.deep.include({ balance: String(350n * USD), allowance: "0" });
    expect(all.ledgers.map((l) => [l.cluster, l.units, l.status, l.unlockAmount])).to.deep.equal([
      ["1", "10", "active", "0"],
    ]);
    expect(BigInt(all.ledgers[0].balance) < 150n * USD).to.equal(true); // a week of rent paid
    const words = await ok(["account", "balance", "--owner", me]);
    expect(words).to.include("wallet     350 tUSD\n");
    expect(words).to.include("allowance  0 tUSD to the core\n");
    expect(words).to.match(
      /cluster 1: active, balance \d+(\.\d+)? tUSD, 10 units, debt 0 tUSD, free \d+(\.\d+)? tUSD, unlock nothing, covered until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in /,
    );
  });

  it("anyone settles a cluster's buckets, without the bot; an unknown bucket is refused", async function () {
    const settled = await json<{
      settled: { cluster: string; total: string; buckets: { bucket: string; paid: string; debt: string }[] }[];
      token: { symbol: string; decimals: number };
    }>(["bucket", "settle", "--cluster", "1"], owner);
    expect(settled.token).to.deep.equal({ symbol: "tUSD", decimals: 6 });
    expect(settled.settled).to.have.length(1);
    const [batch] = settled.settled;
    expect(batch.cluster).to.equal("1");
    // Cluster 1's buckets: the demo owners' (1, 3) and the new owner's (5, 6).
    expect(batch.buckets.map((b) => b.bucket)).to.deep.equal(["1", "3", "5", "6"]);
    expect(batch.buckets.map((b) => b.debt)).to.deep.equal(["0", "0", "0", "0"]);
    expect(BigInt(batch.total)).to.equal(batch.buckets.reduce((s, b) => s + BigInt(b.paid), 0n));
    expect(BigInt(batch.buckets[0].paid) > 0n).to.equal(true); // a week and more of rent

    const words = await ok(["bucket", "settle", "1", "3"], owner);
    expect(words).to.match(
      /^bucket 1: paid \d+(\.\d+)? tUSD\nbucket 3: paid \d+(\.\d+)? tUSD\ncluster 1: \d+(\.\d+)? tUSD settled into the revenue pool\n$/,
    );

    await refused(["bucket", "settle", "999"], owner, "reverted: BucketNotFound(bucket=999)");
    await refused(["bucket", "settle", "2", "--cluster", "1"], owner, "bucket 2 is in cluster 2, not 1: nothing sent");
    await refused(["bucket", "settle"], owner, "name the buckets to settle, or --cluster <id> for all of a cluster's");
  });

  it("a new provider: registers a node (its id printed), sees its revenue, a claim of nothing is refused", async function () {
    const me = operator.address;
    await ok(["token", "faucet", "1"], operator);
    const registered = await ok(
      ["node", "register", "--signing-key", Wallet.createRandom().address, "--capacity", "100", "--rent", "2.5"],
      operator,
    );
    expect(registered).to.match(/^node 5 registered \(tx 0x[0-9a-f]{64}\)\n$/);
    const created = await json<{ node: string }>(
      ["node", "create", "--signing-key", Wallet.createRandom().address, "--capacity", "50", "--rent", "1"],
      operator,
    );
    expect(created.node).to.equal("6");
    const shown = await json<{ provider: string; rent: string; token: { symbol: string } }>(["node", "show", "5"]);
    expect(shown).to.deep.include({ provider: me, rent: "2500000" });
    expect(shown.token).to.deep.equal({ symbol: "tUSD", decimals: 6 });
    expect(await ok(["node", "show", "5"])).to.include("rent        2.5 tUSD per vNode per unit per month\n");
    expect(await ok(["revenue", "show", "5,6"])).to.equal("node 5: 0 tUSD\nnode 6: 0 tUSD\n");

    await refused(
      ["revenue", "claim", "5,6"],
      operator,
      "nothing to claim: nodes 5, 6 have 0 tUSD of revenue: nothing sent",
    );
    await refused(
      ["revenue", "claim", "1"],
      operator,
      /error: node 1 belongs to 0x[0-9a-fA-F]{40}, not to 0x[0-9a-fA-F]{40}: nothing sent/,
    );
    await refused(["revenue", "claim", "99"], operator, "reverted: NodeNotFound(node=99)");
    await refused(
      ["node", "register", "--signing-key", me, "--capacity", "100", "--rent", "1,5"],
      operator,
      'amount must be a decimal number, got "1,5"',
    );
  });

  it("the faucet refuses a chain that is not a development chain, asking it nothing else", async function () {
    const asked: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const calls = [JSON.parse(body)].flat() as { id: number; method: string }[];
        asked.push(...calls.map((c) => c.method));
        const answers = calls.map((c) => ({
          jsonrpc: "2.0",
          id: c.id,
          result: c.method === "eth_chainId" ? "0x1" : "0x0",
        }));
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(Array.isArray(JSON.parse(body)) ? answers : answers[0]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await ddc(["--rpc", url, "token", "faucet", "10"], owner);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(
        "error: the faucet works on development chains only (chain id 31337: hardhat node, anvil); this RPC answers chain id 1: nothing sent",
      );
      // Only the chain id was asked before the refusal (printing the error reads the token's symbol
      // and decimals, eth_call): no balance set, no account impersonated, nothing sent.
      expect(asked.filter((m) => m !== "eth_call")).to.deep.equal(["eth_chainId"]);
    } finally {
      server.close();
    }
  });

  /**
   * A cluster's whole life with no bot and no development account acting for a party: a manager
   * builds it from two providers' nodes and names a validator, an owner pays into it, the
   * validator signs and submits its report of an era, the manager settles and distributes that
   * era as the report decides, and a provider claims what the chain credited its node. Each
   * party's key is new, funded only by `ddc token faucet` (the validator's not at all: it signs
   * and writes files, and sends nothing).
   */
  describe("a cluster built, paid for, reported on and paid out, every party from a fresh account", function () {
    const manager = Wallet.createRandom();
    const providers = [Wallet.createRandom(), Wallet.createRandom()];
    const validator = Wallet.createRandom();
    const owner2 = Wallet.createRandom();
    const rents = [1_000_000n, 1_500_000n]; // 1 and 1.5 tUSD a unit a month
    const nodes: string[] = [];
    const reports = join(dir, "reports");
    let cluster: string;
    let bucket: string;
    let era: number;
    let accepted: SignedReport;

    const core = () => IDDC__factory.connect(record.contracts.DDCCore, provider);

    it("a manager creates a cluster, two providers register and trust it, it adds their nodes and names a validator; a stranger and an unknown cluster are refused", async function () {
      for (const key of [manager, ...providers, owner2]) await ok(["token", "faucet", "200"], key);
      // The providers at once: they are different accounts.
      const created = await Promise.all(
        providers.map((p, i) =>
          json<{ node: string }>(
            [
              "node",
              "create",
              "--signing-key",
              Wallet.createRandom().address,
              "--capacity",
              "1000",
              "--rent",
              String(Number(rents[i]) / 1e6),
            ],
            p,
          ),
        ),
      );
      nodes.push(...created.map((c) => c.node));
      // After the demo's four and the new provider's two, in whichever order the two were mined.
      expect([...nodes].sort()).to.deep.equal(["7", "8"]);
      const trusted = await Promise.all(providers.map((p) => ok(["node", "trust", manager.address], p)));
      expect(trusted).to.deep.equal([`trusting ${manager.address}\n`, `trusting ${manager.address}\n`]);
      for (const p of providers) expect(await core().isManagerTrusted(p.address, manager.address)).to.equal(true);

      const made = await ok(["cluster", "create", "--replication", "2"], manager);
      const m = /^cluster (\d+) created, managed by (0x[0-9a-fA-F]{40})\n$/.exec(made);
      expect(m, made).to.not.equal(null);
      cluster = m![1];
      expect(cluster).to.equal("3"); // after the demo's two
      expect(m![2]).to.equal(manager.address);
      expect((await core().getCluster(cluster)).manager).to.equal(manager.address);

      // A stranger (an owner with gas) adding a node to it; the manager naming an unknown cluster.
      await refused(
        ["cluster", "add-node", cluster, nodes[0], "--tokens", "1000"],
        owner2,
        `the key ${owner2.address} is not cluster ${cluster}'s manager: cluster ${cluster}'s manager is a key ${manager.address} (an account without code: it sends its own transactions)`,
      );
      await refused(
        ["cluster", "validators", "99", "--add", validator.address],
        manager,
        "reverted: ClusterNotFound(cluster=99)",
      );

      expect(await ok(["cluster", "add-node", cluster, nodes[0], "--tokens", "1000"], manager)).to.match(/^done: /);
      expect(await ok(["cluster", "add-node", cluster, nodes[1], "--tokens", "2000"], manager)).to.match(/^done: /);
      await ok(["cluster", "reserve", cluster, "100"], manager);
      await ok(["cluster", "validators", cluster, "--add", validator.address], manager);
      expect([...(await core().clusterNodes(cluster))].map(String)).to.deep.equal(nodes);
      expect([...(await core().clusterValidators(cluster))]).to.deep.equal([validator.address]);
      expect((await core().getCluster(cluster)).reservedPerVNode).to.equal(100n);
      // The price is the nodes' rents, in force at once (no billable bucket yet).
      expect((await core().getCluster(cluster)).price).to.equal(rents[0] + rents[1]);
    });

    it("an owner pays into it; an era later its validator signs and submits a report, and the bot's intake accepts it and turns away a stranger's", async function () {
      await ok(["account", "deposit", cluster, "100"], owner2);
      const created = /^bucket (\d+) created in cluster (\d+)\n$/.exec(await ok(["bucket", "create", cluster], owner2));
      expect(created?.[2]).to.equal(cluster);
      bucket = created![1];
      await ok(["bucket", "alloc", bucket, "10"], owner2);

      await travel(86_400);
      era = Number((await core().clusterEra(cluster)).era) - 1;
      // The body as a validator writes it: nodes in any order.
      const body = join(dir, "body.json");
      writeFileSync(
        body,
        JSON.stringify({
          cluster: Number(cluster),
          era,
          nodes: ["8", "7"].map((n) => ({
            node: Number(n),
            availabilityBps: 9990,
            latencyMs: 35,
            retrievable: true,
            score: 9950,
          })),
          buckets: [{ bucket: Number(bucket), measuredBytes: String(5n << 30n) }],
        }),
      );
      const signedFile = join(dir, "signed.json");
      const strangerFile = join(dir, "stranger.json");
      const [signed, stranger] = await Promise.all([
        ddc(["validator", "sign-report", body, "--out", signedFile], validator),
        ddc(["validator", "sign-report", body, "--out", strangerFile], owner2),
      ]);
      const line = (who: string) =>
        `signed by ${who}: cluster ${cluster}, era ${era}, 2 nodes, 1 buckets, chain 31337, core ${record.contracts.DDCCore}\n`;
      expect(signed.code, signed.stderr).to.equal(0);
      expect(signed.stderr).to.include(line(validator.address));
      // Whoever signs is named: a key that is not the cluster's validator is seen at once.
      expect(stranger.code, stranger.stderr).to.equal(0);
      expect(stranger.stderr).to.include(line(owner2.address));
      const report = signedReportSchema.parse(JSON.parse(readFileSync(signedFile, "utf8")));
      expect(report).to.deep.include({ version: 1, chainId: 31337 });
      expect(getAddress(report.core)).to.equal(record.contracts.DDCCore);
      expect(getAddress(report.validator)).to.equal(validator.address);
      expect(reportSigner(report)).to.equal(validator.address);
      expect(report.report.nodes.map((n) => n.node)).to.deep.equal([7, 8]); // put in order

      mkdirSync(reports);
      const [written, alsoWritten] = await Promise.all([
        ok(["validator", "submit", signedFile, "--to", reports]),
        ok(["validator", "submit", strangerFile, "--to", reports]),
      ]);
      const name = (who: string) => `${cluster}-${era}-${who}.json`;
      expect(written).to.equal(
        `written to ${join(reports, name(validator.address))}: the bot takes it at its next run\n`,
      );
      expect(alsoWritten).to.equal(
        `written to ${join(reports, name(owner2.address))}: the bot takes it at its next run\n`,
      );
      // The validator never needed gas: nothing of it is on chain.
      expect(await state(validator.address)).to.deep.equal([0, 0n, 0n]);

      // The bot's intake reads the directory: the validator's report accepted, the stranger's not.
      const chain = coreChainView(core(), provider, record.chainId, { fromBlock: record.block });
      const outcomes = await scanReportDirectory(new ReportIntake(chain, new MemoryReportBook()), reports);
      const verdicts = Object.fromEntries(
        outcomes.map((o) => [o.file, "verdict" in o ? o.verdict : { status: "undecided" }]),
      );
      expect(verdicts[name(validator.address)]).to.deep.include({ status: "accepted", validator: validator.address });
      expect(verdicts[name(owner2.address)]).to.deep.equal({
        status: "rejected",
        reason: "not-a-validator",
        detail: `${owner2.address} was not a validator of cluster ${cluster} at the end of era ${era}`,
      });
      expect(readFileSync(join(reports, "rejected", `${name(owner2.address)}.reason`), "utf8")).to.equal(
        `not-a-validator: ${owner2.address} was not a validator of cluster ${cluster} at the end of era ${era}\n`,
      );
      accepted = signedReportSchema.parse(
        JSON.parse(readFileSync(join(reports, "accepted", name(validator.address)), "utf8")),
      );
    });

    it("the manager settles and distributes the era as its report decides; a provider claims what the chain credited", async function () {
      const settled = await json<{ settled: { cluster: string; total: string; buckets: { bucket: string }[] }[] }>(
        ["bucket", "settle", "--cluster", cluster],
        manager,
      );
      expect(settled.settled.map((s) => [s.cluster, s.buckets.map((b) => b.bucket)])).to.deep.equal([
        [cluster, [bucket]],
      ]);
      const pool = (await core().getCluster(cluster)).revenuePool;
      expect(pool).to.equal(BigInt(settled.settled[0].total));
      expect(pool > 0n).to.equal(true); // a day of 10 units' rent

      // The era decided from the accepted report, as the bot decides it: its evidence document.
      const chain = coreChainView(core(), provider, record.chainId, { fromBlock: record.block });
      const c = Number(cluster);
      const members = await chain.membersAt(c, era);
      const params = (await chain.paramsAt(c, era))!;
      const view = await core().getCluster(cluster);
      const decision = decideEra({
        chainId: record.chainId,
        core: record.contracts.DDCCore,
        cluster: c,
        era,
        validators: [...(await chain.validatorsAt(c, era))],
        reports: [accepted],
        members: members.map((n) => ({ node: n, vNodes: 1, pendingReplacement: false })),
        scored: members,
        history: {},
        candidates: [],
        params: { ...params, exclusionFactor: Number(view.exclusionFactor), reservedPerVNode: view.reservedPerVNode },
        policy: { failingEras: 3, maxPerEra: 1 },
        previousEvidence: [],
        foreignBuckets: await chain.foreignBuckets(c, [Number(bucket)]),
      });
      if (!decision.decided) throw new Error(`era ${era} undecided`);
      expect(decision.actions.map((a) => a.key.kind)).to.deep.equal(["usage-report", "distribution"]);
      const evidence = join(dir, "evidence.json");
      writeFileSync(evidence, decision.json);

      // Not anyone's to carry out: a stranger holding the document is refused before sending.
      await refused(
        ["cluster", "distribute", cluster, String(era), "--evidence", evidence],
        owner2,
        `the key ${owner2.address} is not cluster ${cluster}'s manager nor one of its operators: cluster ${cluster}'s manager is a key ${manager.address} (an account without code: it sends its own transactions)`,
      );
      // The manager carries them out with ddc, from the document: the usage report, then the distribution.
      const usage = await ok(["cluster", "report-usage", cluster, String(era), "--evidence", evidence], manager);
      expect(usage).to.equal(`done: ${decision.actions[0].title}\n`);
      const paid = await ok(["cluster", "distribute", cluster, String(era), "--evidence", evidence], manager);
      expect(paid).to.equal(`done: ${decision.actions[1].title}\n`);
      const [event] = await core().queryFilter(core().filters.RevenuesDistributed(cluster, era));
      expect(event.args.evidenceHash).to.equal(decision.hash);
      expect((await core().clusterRevenue(cluster)).nextEra).to.equal(BigInt(era + 1));
      const credited = await Promise.all(nodes.map((n) => core().nodeRevenue(n)));
      // Shared by weight (each node's rent), less the fees: the provider of the dearer node gets more.
      expect(credited[0] > 0n && credited[1] > credited[0]).to.equal(true);
      const fees = [(await core().globalParams()).networkFeeBps, view.params.managementFeeBps];
      const rest = fees.reduce((r, bps) => r - (pool * bps) / 10_000n, pool);
      const sum = credited[0] + credited[1];
      expect(sum <= rest && rest - sum <= 2n, `${sum} vs ${rest}`).to.equal(true);
      const skew = credited[0] * rents[1] - credited[1] * rents[0];
      expect(skew <= rents[0] + rents[1] && -skew <= rents[0] + rents[1], `skew ${skew}`).to.equal(true);

      const [a] = providers;
      const before = (await token.balanceOf(a.address)) as bigint;
      const claimed = await json<{ to: string; total: string; paid: { node: string; amount: string }[] }>(
        ["revenue", "claim", nodes[0]],
        a,
      );
      expect(claimed).to.deep.include({ to: a.address, total: String(credited[0]) });
      expect(claimed.paid).to.deep.equal([{ node: nodes[0], amount: String(credited[0]) }]);
      expect((await token.balanceOf(a.address)) as bigint).to.equal(before + credited[0]);
      expect(await core().nodeRevenue(nodes[0])).to.equal(0n);
      expect(await core().nodeRevenue(nodes[1])).to.equal(credited[1]); // the other provider's, untouched
    });
  });

  /**
   * Two Safe owners sign and execute, from fresh keys: the Safe is created here from
   * the deployment's singletons, and the CLI routes the acceptance to its signature store because
   * the pending manager is a Safe (cli/managers.ts).
   */
  describe("a cluster managed by a new Safe of two fresh owners", function () {
    it("its creator hands it over: the first owner accepts into the store (1 of 2), executing then refused, the second signs and executes; cluster show names the Safe", async function () {
      const creator = Wallet.createRandom();
      const owners = [Wallet.createRandom(), Wallet.createRandom()];
      await Promise.all([creator, ...owners].map((key) => ok(["token", "faucet", "1"], key)));
      // A Safe of exactly the two owners, threshold 2, from the deployment's Safe singletons; the
      // first owner pays for its creation.
      const singletons = Object.fromEntries(SAFE_CONTRACT_NAMES.map((n) => [n, record.contracts[n]])) as SafeSingletons;
      const safe = await createSafe(
        owners[0].connect(provider),
        singletons,
        owners.map((o) => o.address),
        2,
      );
      expect(await safeConfig(provider, safe)).to.deep.equal({ owners: owners.map((o) => o.address), threshold: 2 });
      const store = join(dir, "safe-signatures");
      const core = IDDC__factory.connect(record.contracts.DDCCore, provider);

      const made = /^cluster (\d+) created, managed by (0x[0-9a-fA-F]{40})\n$/.exec(
        await ok(["cluster", "create"], creator),
      );
      expect(made?.[2]).to.equal(creator.address);
      const cluster = made![1];
      expect(cluster).to.equal("4"); // after the demo's two and the fresh manager's
      expect(await ok(["cluster", "handover", cluster, "--to", safe], creator)).to.equal(
        `done: Hand cluster ${cluster} over to ${safe}\n`,
      );
      expect((await core.getCluster(cluster)).pendingManager).to.equal(safe);

      // The pending manager is a Safe: the first owner's --accept goes to the store, signed by it.
      const accepted = await json<{
        safe: string;
        safeTxHash: string;
        nonce: number;
        signedBy: string;
        threshold: string;
      }>(["cluster", "handover", cluster, "--accept", "--store", store], owners[0]);
      expect(accepted).to.deep.include({ safe, nonce: 0, signedBy: owners[0].address, threshold: "2" });
      const hash = accepted.safeTxHash;
      const listed = await json<
        {
          safeTxHash: string;
          nonce: number;
          status: string;
          confirmations: number;
          threshold: number;
          title: string;
          problems: string[];
        }[]
      >(["safe", "list", safe, "--store", store]);
      expect(listed).to.deep.equal([
        {
          safeTxHash: hash,
          nonce: 0,
          status: "pending",
          confirmations: 1,
          threshold: 2,
          title: `Accept the management of cluster ${cluster}`,
          problems: [],
        },
      ]);
      // One signature of two: refused, nothing sent (the Safe's nonce unchanged too).
      const safeNonce = async () =>
        (await new Contract(safe, ["function nonce() view returns (uint256)"], provider).nonce()) as bigint;
      await refused(["safe", "execute", safe, hash, "--store", store], owners[0], "1 of 2 confirmations: 1 missing");
      expect(await safeNonce()).to.equal(0n);

      const signed = await ok(["safe", "sign", safe, hash, "--store", store], owners[1]);
      expect(signed).to.equal(`signed by ${owners[1].address}: 2 of 2\n`);
      // --dry-run: the Safe's execTransaction (the acceptance, with both signatures) simulated and
      // shown decoded, nothing sent.
      const before = await state(owners[1].address);
      const dry = await ddc(["--dry-run", "safe", "execute", safe, hash, "--store", store], owners[1]);
      expect(dry.code, dry.stderr).to.equal(0);
      const acceptCall = core.interface.encodeFunctionData("clusterAcceptManager", [cluster]);
      expect(dry.stdout).to.match(
        new RegExp(
          `^dry run: nothing was sent\\n  from ${owners[1].address}\\n  Safe\\.execTransaction\\(to=${record.contracts.DDCCore}, value=0, data=${acceptCall}, operation=0, safeTxGas=0, baseGas=0, gasPrice=0, gasToken=${ZeroAddress}, refundReceiver=${ZeroAddress}, signatures=0x[0-9a-f]{260}\\)\\n  simulated: succeeds, gas \\d+\\n  returns 0x0{63}1\\n`,
        ),
      );
      expect(await state(owners[1].address)).to.deep.equal(before);
      expect(await safeNonce()).to.equal(0n);
      expect((await core.getCluster(cluster)).manager).to.equal(creator.address);

      const executed = await ok(["safe", "execute", safe, hash, "--store", store], owners[1]);
      const sent = /^executed: (0x[0-9a-f]{64})\n$/.exec(executed);
      expect(sent, executed).to.not.equal(null);
      expect((await provider.getTransaction(sent![1]))?.from).to.equal(owners[1].address);
      expect(await safeNonce()).to.equal(1n);
      const view = await core.getCluster(cluster);
      expect([view.manager, BigInt(view.pendingManager)]).to.deep.equal([safe, 0n]);
      const shown = await ok(["cluster", "show", cluster]);
      expect(shown).to.include(
        `manager              a Safe ${safe}, 2 of 2 owners must sign: ${owners[0].address}, ${owners[1].address}\n`,
      );
      expect(shown).to.not.include("pending manager");
    });
  });

  it("a voter from a fresh account: granted governance tokens, refused a vote before delegating, delegates, votes", async function () {
    const voter = Wallet.createRandom();
    await ok(["token", "faucet", "1"], voter);
    const deployer = devAccount(0, provider);
    const gov = DDCGovernanceToken__factory.connect(record.contracts.DDCGovernanceToken, deployer);
    const grant = parseEther("10000");
    await (await gov.transfer(voter.address, grant)).wait();
    const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, devAccount(4, provider));
    const targets = [record.contracts.DDCCore];
    const propose = async (units: number): Promise<string> => {
      const data = [IDDC__factory.createInterface().encodeFunctionData("clusterReserveResource", [1, units])];
      const description = `# Reserve ${units} in cluster 1`;
      await (await governor.propose(targets, [0n], data, description)).wait();
      const id = await governor.getProposalId(targets, [0n], data, idOf(description));
      await travel(Number(await governor.votingDelay()) + 1);
      return id.toString();
    };

    // Tokens not delegated count for no vote: refused, nothing sent, with the way out named.
    const first = await propose(130);
    const early = await refused(
      ["gov", "vote", first, "for"],
      voter,
      `not voting: ${voter.address} holds 10000 ${await gov.symbol()} that are not delegated: they count for no vote; ${voter.address} has 0 votes at this proposal's snapshot: the vote would count for nothing`,
    );
    expect(early.stderr).to.include("hint: run `ddc gov delegate` (to yourself)");
    expect(await governor.hasVoted(first, voter.address)).to.equal(false);

    const delegated = await json<{ delegate: string; votes: string }>(["gov", "delegate"], voter);
    expect(delegated).to.deep.include({ delegate: voter.address, votes: String(grant) });
    const second = await propose(131);
    const voted = await json<{ proposalId: string; support: string; weight: string }>(
      ["gov", "vote", second, "for", "--reason", "room for the new buckets"],
      voter,
    );
    expect(voted).to.deep.include({ proposalId: second, support: "for", weight: String(grant) });
    expect(await governor.hasVoted(second, voter.address)).to.equal(true);
    expect((await governor.proposalVotes(second)).forVotes).to.equal(grant);
  });

  it("reads the settlement record as the core packs it", function () {
    const record = `0x${[
      [5n, 1_500_000n, 0n],
      [7n, 0n, 2n ** 112n - 1n],
    ]
      .map(
        ([b, p, d]) =>
          b.toString(16).padStart(16, "0") + p.toString(16).padStart(28, "0") + d.toString(16).padStart(28, "0"),
      )
      .join("")}`;
    expect(settledRecords(record)).to.deep.equal([
      { bucket: 5n, paid: 1_500_000n, debt: 0n },
      { bucket: 7n, paid: 0n, debt: 2n ** 112n - 1n },
    ]);
  });
});
