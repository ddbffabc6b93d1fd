import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { AbiCoder, JsonRpcProvider, Wallet, id as idOf, keccak256 } from "ethers";
import { coreChainView } from "../../manager-bot/src/chain";
import { decideEra, type EraDecision } from "../../manager-bot/src/decide";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { DDCGovernanceToken__factory, DDCGovernor__factory, IDDC__factory } from "../../typechain-types";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { formatMoney } from "../../lib/format";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { devAccount, tempDir } from "../helpers/temp";
import { runDdc, ROOT, type DdcResult } from "../helpers/ddcProcess";

const run = promisify(execFile);

const account = (i: number) => devAccount(i);
const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";

type Result = DdcResult;

describe("ddc for voters and managers, end to end against npx hardhat node", function () {
  this.timeout(600_000);
  let node: LocalNode;
  const dir = tempDir("gov-cli");
  const store = join(dir, "signatures");
  let env: NodeJS.ProcessEnv;
  let record: DeploymentRecord;
  let provider: JsonRpcProvider;

  /** `ddc <args>` as account `key` (or with no key), in a separate process. */
  async function ddc(args: string[], key?: number): Promise<Result> {
    const e = { ...env };
    delete e.DDC_PRIVATE_KEY;
    if (key !== undefined) e.DDC_PRIVATE_KEY = account(key).privateKey;
    return runDdc(args, e);
  }

  async function json<T>(args: string[], key?: number): Promise<T> {
    const r = await ddc(["--json", "--quiet", ...args], key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stderr}`).to.equal(0);
    return JSON.parse(r.stdout) as T;
  }

  /** Exit code 1, the error line, nothing printed on stdout. */
  async function fails(args: string[], key: number | undefined, message: string, hint?: string): Promise<void> {
    const r = await ddc(args, key);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    expect(r.stderr).to.include(`error: ${message}`);
    if (hint !== undefined) expect(r.stderr).to.include(`hint: ${hint}`);
  }

  async function rpc(method: string, params: unknown[] = []): Promise<void> {
    await fetch(node.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
  }

  async function travel(seconds: number): Promise<void> {
    await rpc("evm_increaseTime", [seconds]);
    await rpc("evm_mine");
  }

  const nonce = (i: number) => provider.getTransactionCount(account(i).address);
  const votes = (x: bigint) => formatMoney(x, { symbol: "DDCG", decimals: 18 });

  before(async function () {
    node = await startNode("hardhat", await freePort());
    env = {
      ...process.env,
      DDC_LOCAL_RPC: node.url,
      DDC_DEPLOYMENTS_DIR: dir,
      DDC_SAFE_STORE: store,
      HARDHAT_DISABLE_TELEMETRY_PROMPT: "true",
    };
    await run(join(ROOT, "node_modules", ".bin", "hardhat"), ["deploy", "--network", "localhost", "--demo"], {
      cwd: ROOT,
      env,
    });
    record = readRecord(join(dir, "localhost.json"))!;
    provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
  });
  after(async function () {
    provider?.destroy();
    await node?.stop();
  });

  describe("managers are recognised and every manager command routes by them", function () {
    let keyCluster: string;

    before(async function () {
      ({ cluster: keyCluster } = await json<{ cluster: string }>(["cluster", "create", "--replication", "1"], 19));
    });

    it("cluster show: the DAO's Timelock, a Safe with its owners and threshold, a key; amounts and times readable", async function () {
      const timelock = record.contracts.TimelockController;
      const safe = record.contracts.DemoOperationsSafe;
      const dao = await ddc(["cluster", "show", "1"]);
      expect(dao.code, dao.stderr).to.equal(0);
      expect(dao.stdout).to.include(
        `manager              the DAO's Timelock ${timelock} (its Governor proposes; execution waits at least 1 d)\n`,
      );
      expect(dao.stdout).to.match(/\nprice {16}\d+(\.\d+)? tUSD per unit per month\n/);
      expect(dao.stdout).to.match(/\nrevenue pool {9}\d+(\.\d+)? tUSD\n/);
      expect(dao.stdout).to.match(new RegExp(`\\nera {18}\\d+, ends ${ISO} \\(in [^)]+\\)\\n`));
      const owners = [1, 2, 3, 13].map((i) => account(i).address);
      const bySafe = await ddc(["cluster", "show", "2"]);
      expect(bySafe.stdout).to.include(
        `manager              a Safe ${safe}, 2 of 4 owners must sign: ${owners.join(", ")}\n`,
      );
      const byKey = await ddc(["cluster", "show", keyCluster]);
      expect(byKey.stdout).to.include(
        `manager              a key ${account(19).address} (an account without code: it sends its own transactions)\n`,
      );
      const asJson = await json<{
        manager: string;
        managerKind: { kind: string; owners?: string[]; threshold?: string; dao?: boolean };
        symbol: string;
        decimals: number;
        revenuePool: string;
      }>(["cluster", "show", "2"]);
      expect(asJson.managerKind).to.deep.equal({ kind: "safe", address: safe, owners, threshold: "2" });
      expect(asJson).to.include({ manager: safe, symbol: "tUSD", decimals: 6 });
      expect(asJson.revenuePool).to.match(/^\d+$/);
      expect((await json<{ managerKind: unknown }>(["cluster", "show", "1"])).managerKind).to.deep.equal({
        kind: "timelock",
        address: timelock,
        dao: true,
        minDelay: "86400",
      });
    });

    it("the key manager's command is sent; another key is refused before anything is sent", async function () {
      const done = await ddc(["cluster", "reserve", keyCluster, "10"], 19);
      expect(done.code, done.stderr).to.equal(0);
      expect(done.stdout.trim()).to.equal(`done: Reserve 10 units per vNode in cluster ${keyCluster}`);
      const before = await nonce(16);
      await fails(
        ["cluster", "reserve", keyCluster, "20"],
        16,
        `the key ${account(16).address} is not cluster ${keyCluster}'s manager: cluster ${keyCluster}'s manager is a key ${account(19).address}`,
        "use that key (DDC_PRIVATE_KEY)",
      );
      await fails(
        ["cluster", "reserve", keyCluster, "20", "--propose"],
        19,
        `--propose: cluster ${keyCluster}'s manager is a key ${account(19).address} (an account without code: it sends its own transactions), not the DAO's Timelock`,
      );
      await fails(
        ["cluster", "reserve", keyCluster, "20", "--safe", record.contracts.DemoOperationsSafe],
        19,
        `--safe ${record.contracts.DemoOperationsSafe}: cluster ${keyCluster}'s manager is a key`,
      );
      expect(await nonce(16)).to.equal(before);
      expect((await json<{ reservedPerVNode: string }>(["cluster", "show", keyCluster])).reservedPerVNode).to.equal(
        "10",
      );
    });

    it("the Timelock's cluster: a proposal by default", async function () {
      const r = await ddc(["cluster", "reserve", "1", "140"], 5);
      expect(r.code, r.stderr).to.equal(0);
      const id = /^ {2}id (\d+)$/m.exec(r.stdout)![1];
      expect(r.stdout).to.include(`proposal ${id.slice(0, 10)} created: Reserve 140 units per vNode in cluster 1\n`);
      expect(r.stdout).to.include(`vote with \`ddc gov vote ${id.slice(0, 10)} for\``);
      const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider);
      expect(await governor.state(BigInt(id))).to.equal(0n); // Pending
    });

    it("the Safe's cluster: the transaction goes to the signature store, signed by an owner; a non-owner is refused", async function () {
      const validator = account(17).address;
      const stored = await json<{ safeTxHash: string; signedBy: string; threshold: string }>(
        ["cluster", "validators", "2", "--add", validator],
        2,
      );
      expect(stored).to.include({ signedBy: account(2).address, threshold: "2" });
      const listed = await json<{ safeTxHash: string; confirmations: number }[]>([
        "safe",
        "list",
        record.contracts.DemoOperationsSafe,
      ]);
      expect(listed.find((t) => t.safeTxHash === stored.safeTxHash)).to.include({ confirmations: 1 });
      const before = await nonce(16);
      await fails(
        ["cluster", "validators", "2", "--add", validator],
        16,
        `the key ${account(16).address} is not an owner of the Safe ${record.contracts.DemoOperationsSafe}`,
        "use an owner's key",
      );
      await fails(
        ["cluster", "validators", "2", "--add", validator, "--propose"],
        4,
        `--propose: cluster 2's manager is a Safe ${record.contracts.DemoOperationsSafe}, 2 of 4 owners must sign`,
      );
      expect(await nonce(16)).to.equal(before);
    });
  });

  describe("governance for voters", function () {
    let id: string;

    it("gov propose: any manager action, with a description; the id is printed", async function () {
      const r = await ddc(["gov", "propose", "reserve", "1", "150", "--description", "Room for the new buckets."], 4);
      expect(r.code, r.stderr).to.equal(0);
      id = /^ {2}id (\d+)$/m.exec(r.stdout)![1];
      expect(r.stdout).to.include(`proposal ${id.slice(0, 10)} created: Reserve 150 units per vNode in cluster 1\n`);
      const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider);
      const [event] = await governor.queryFilter(governor.filters.ProposalCreated(), 0);
      expect(event).to.not.equal(undefined);
      const params = await json<{ proposalId: string; title: string }>(
        [
          "gov",
          "propose",
          "global-params",
          "--unlock-delay",
          "172800",
          "--title",
          "A two-day unlock delay",
          "--description",
          "Shorter waits.",
        ],
        4,
      );
      expect(params.title).to.equal("A two-day unlock delay");
      const shown = await ddc(["gov", "show", params.proposalId.slice(0, 10)]);
      expect(shown.stdout).to.include(`proposal ${params.proposalId.slice(0, 10)}: A two-day unlock delay\n`);
      expect(shown.stdout).to.include("DDCCore.setUnlockDelay(");
      const described = await json<{ description: string }>(["gov", "show", id]);
      expect(described.description).to.include(
        "# Reserve 150 units per vNode in cluster 1\n\nRoom for the new buckets.\n",
      );
      const missing = await ddc(["gov", "propose", "reserve", "1", "150"], 4);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.include("error: required option '--description <text>' not specified");
      // Not a cluster of the DAO's: refused before anything is proposed.
      await fails(
        ["gov", "propose", "reserve", "2", "150", "--description", "x"],
        4,
        `--propose: cluster 2's manager is a Safe ${record.contracts.DemoOperationsSafe}`,
      );
    });

    it("gov show before the vote: state, vote start and end (ISO, relative), quorum of the supply now, the caller's power", async function () {
      const r = await ddc(["gov", "show", id.slice(0, 8)], 4);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(
        `proposal ${id.slice(0, 10)}: Reserve 150 units per vNode in cluster 1\nid         ${id}\nstate      Pending\nproposer   ${account(4).address}\n`,
      );
      expect(r.stdout).to.match(new RegExp(`\\nvote start ${ISO} \\(in (59 min \\d+ s|1 h)\\)\\n`));
      expect(r.stdout).to.match(new RegExp(`\\nvote end   ${ISO} \\(in 3 d( 1 h)?\\)\\n`));
      expect(r.stdout).to.include("(the supply now: the snapshot is later)");
      expect(r.stdout).to.include(
        "  votes at the snapshot not yet known (the vote has not started), now 100000 DDCG\n",
      );
      expect(r.stdout).to.include("  delegated to yourself; balance 100000 DDCG\n");
    });

    it("gov vote: 0 votes or undelegated tokens refused without --yes (nothing sent), with it a warning", async function () {
      // Account 17 gets tokens it does not delegate; account 16 has none.
      const token = DDCGovernanceToken__factory.connect(
        record.contracts.DDCGovernanceToken,
        new Wallet(account(6).privateKey, provider),
      );
      await (await token.transfer(account(17).address, 1000n * 10n ** 18n)).wait();
      await travel(3601);
      const before = [await nonce(16), await nonce(17)];
      await fails(
        ["gov", "vote", id.slice(0, 10), "for"],
        16,
        `not voting: ${account(16).address} has 0 votes at this proposal's snapshot: the vote would count for nothing`,
        "run `ddc gov delegate` (to yourself) or `ddc gov delegate <address>`: delegated votes count for proposals made after that; pass --yes to vote anyway",
      );
      await fails(
        ["gov", "vote", id.slice(0, 10), "for"],
        17,
        `not voting: ${account(17).address} holds 1000 DDCG that are not delegated: they count for no vote; ${account(17).address} has 0 votes at this proposal's snapshot`,
      );
      expect([await nonce(16), await nonce(17)]).to.deep.equal(before);
      const forced = await ddc(["--yes", "gov", "vote", id.slice(0, 10), "for"], 16);
      expect(forced.code, forced.stderr).to.equal(0);
      expect(forced.stderr).to.include(`warning: ${account(16).address} has 0 votes at this proposal's snapshot`);
      expect(forced.stdout.trim()).to.equal(`voted for on ${id.slice(0, 10)} with 0 DDCG`);
      for (const [voter, support] of [
        [4, "for"],
        [5, "abstain"],
      ] as const) {
        const r = await json<{ weight: string; symbol: string; decimals: number }>(["gov", "vote", id, support], voter);
        expect(r).to.include({ symbol: "DDCG", decimals: 18 });
      }
    });

    it("gov show during the vote: quorum and progress, the caller's power at the snapshot and now, delegation", async function () {
      const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider);
      const quorum = await governor.quorum(await governor.proposalSnapshot(BigInt(id)));
      const counted = 150_000n * 10n ** 18n;
      const pct = (Number((counted * 10_000n) / quorum) / 100).toFixed(2).replace(/\.?0+$/, "");
      const r = await ddc(["gov", "show", id.slice(0, 10)], 4);
      expect(r.stdout).to.include("state      Active\n");
      expect(r.stdout).to.include(`quorum     ${votes(quorum)}; for + abstain 150000 DDCG, ${pct}% of it (reached)\n`);
      expect(r.stdout).to.include("votes      for 100000 DDCG, against 0 DDCG, abstain 50000 DDCG\n");
      expect(r.stdout).to.include(
        `you        ${account(4).address} (voted)\n  votes at the snapshot 100000 DDCG, now 100000 DDCG\n`,
      );
      const other = await ddc(["gov", "show", id.slice(0, 10), "--voter", account(17).address]);
      expect(other.stdout).to.include(
        `you        ${account(17).address}\n  votes at the snapshot 0 DDCG, now 0 DDCG\n  delegation: none: your 1000 DDCG count for no vote; \`ddc gov delegate\` (to yourself) counts them for proposals made after\n`,
      );
      const asJson = await json<{
        quorum: string;
        voteStart: string;
        voteEnd: string;
        clockMode: string;
        votes: Record<string, string>;
      }>(["gov", "show", id]);
      expect(asJson).to.include({ quorum: quorum.toString(), clockMode: "timestamp" });
      expect(asJson.votes).to.deep.equal({
        for: (100_000n * 10n ** 18n).toString(),
        against: "0",
        abstain: (50_000n * 10n ** 18n).toString(),
      });
      expect(BigInt(asJson.voteEnd) - BigInt(asJson.voteStart)).to.equal(259_200n);
    });

    it("state errors in words: queueing an Active proposal", async function () {
      await fails(
        ["gov", "queue", id.slice(0, 10)],
        4,
        `reverted: GovernorUnexpectedProposalState(proposalId=${id}, current=Active, expectedStates=Succeeded)`,
        "the proposal is not in the state this step needs: `ddc gov show <id>`",
      );
    });

    it("gov queue says when execution becomes possible; gov show the ETA; gov list short ids, --json full ones", async function () {
      await travel(259_200);
      const q = await ddc(["gov", "queue", id.slice(0, 10)], 4);
      expect(q.code, q.stderr).to.equal(0);
      expect(q.stdout.trim()).to.match(
        new RegExp(
          `^${id.slice(0, 10)}: Queued: executable from ${ISO} \\(in 1 d\\), then \`ddc gov execute ${id.slice(0, 10)}\`$`,
        ),
      );
      const shown = await ddc(["gov", "show", id.slice(0, 10)]);
      expect(shown.stdout).to.match(new RegExp(`\\neta        executable from ${ISO} \\(in 1 d\\)\\n`));
      const list = await ddc(["gov", "list"]);
      expect(list.stdout).to.include(`${id.slice(0, 10)}  Queued     Reserve 150 units per vNode in cluster 1\n`);
      expect(list.stdout).to.not.include(id);
      const listed = await json<{ id: string }[]>(["gov", "list"]);
      expect(listed.map((p) => p.id)).to.include(id);
      await travel(86_400);
      expect((await json<{ state: string }>(["gov", "execute", id.slice(0, 7)], 9)).state).to.equal("Executed");
    });

    it("short ids: a unique prefix of 6+ digits; too short, unknown and ambiguous prefixes are clear errors", async function () {
      await fails(
        ["gov", "show", "12345"],
        undefined,
        `"12345" is too short for a proposal id: give the id or its first 6 digits or more`,
      );
      const unknown = id.startsWith("999999") ? "888888" : "999999";
      await fails(
        ["gov", "show", unknown],
        undefined,
        `no proposal ${unknown} on this Governor (no id starts with it)`,
      );
      await fails(["gov", "show", "12ab"], undefined, `a proposal id is a decimal number, got "12ab"`);
      // Two proposals whose ids share their first 6 digits (descriptions tried until two collide).
      const governor = DDCGovernor__factory.connect(
        record.contracts.DDCGovernor,
        new Wallet(account(4).privateKey, provider),
      );
      const targets = [record.contracts.DDCCore];
      const data = [IDDC__factory.createInterface().encodeFunctionData("clusterReserveResource", [1, 160])];
      const coder = AbiCoder.defaultAbiCoder();
      const idFor = (description: string) =>
        BigInt(
          keccak256(
            coder.encode(["address[]", "uint256[]", "bytes[]", "bytes32"], [targets, [0n], data, idOf(description)]),
          ),
        );
      const seen = new Map<string, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; pair === undefined; i++) {
        const description = `# Reserve 160, try ${i}`;
        const prefix = idFor(description).toString().slice(0, 6);
        const earlier = seen.get(prefix);
        if (earlier !== undefined) pair = [earlier, description];
        else seen.set(prefix, description);
      }
      for (const description of pair) await (await governor.propose(targets, [0n], data, description)).wait();
      const [a, b] = pair.map(idFor);
      expect(await governor.hashProposal(targets, [0n], data, idOf(pair[0]))).to.equal(a);
      const prefix = a.toString().slice(0, 6);
      const r = await ddc(["gov", "show", prefix]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(`error: the prefix ${prefix} is ambiguous: 2 proposals start with it: `);
      expect(r.stderr).to.include(`${a} (${pair[0].slice(2)})`);
      expect(r.stderr).to.include(`${b} (${pair[1].slice(2)})`);
      expect(r.stderr).to.include("hint: give more digits");
      // Longer prefixes tell them apart.
      const distinct = [...a.toString()].findIndex((d, i) => d !== b.toString()[i]) + 1;
      const one = await json<{ id: string }>(["gov", "show", a.toString().slice(0, Math.max(6, distinct))]);
      expect(one.id).to.equal(a.toString());
    });
  });

  describe("no party needs the bot: distribute and report usage from an evidence document", function () {
    let file: string;
    let decision: Extract<EraDecision, { decided: true }>;
    let era: bigint;

    before(async function () {
      // The Safe's cluster (2): its validators' reports for the last closed era, decided as the bot decides.
      const cluster = 2;
      const core = record.contracts.DDCCore;
      const ddcCore = IDDC__factory.connect(core, provider);
      const chain = coreChainView(ddcCore, provider, record.chainId, { fromBlock: record.block });
      await travel(3600);
      const e = Number((await ddcCore.clusterEra(cluster)).era) - 1;
      era = BigInt(e);
      const validators = [...(await chain.validatorsAt(cluster, e))].sort();
      const accounts = new Map(Array.from({ length: 20 }, (_, i) => [account(i).address, account(i)]));
      const members = await chain.membersAt(cluster, e);
      const buckets: ReportBody["buckets"] = [{ bucket: 2, measuredBytes: String(3n << 30n) }];
      const reports = await Promise.all(
        validators.map((v) =>
          signReport(accounts.get(v)!, record.chainId, core, {
            cluster,
            era: e,
            nodes: members.map((n) => ({
              node: n,
              availabilityBps: 10_000,
              latencyMs: 9,
              retrievable: true,
              score: 9900,
            })),
            buckets,
          }),
        ),
      );
      const params = (await chain.paramsAt(cluster, e))!;
      const view = await ddcCore.getCluster(cluster);
      const decided = decideEra({
        chainId: record.chainId,
        core,
        cluster,
        era: e,
        validators,
        reports,
        members: members.map((n) => ({ node: n, vNodes: 1, pendingReplacement: false })),
        scored: members,
        history: {},
        candidates: [],
        params: { ...params, exclusionFactor: Number(view.exclusionFactor), reservedPerVNode: view.reservedPerVNode },
        policy: { failingEras: 3, maxPerEra: 1 },
        previousEvidence: [],
        foreignBuckets: await chain.foreignBuckets(cluster, [2]),
      });
      if (!decided.decided) throw new Error("undecided");
      decision = decided;
      file = join(dir, "evidence.json");
      writeFileSync(file, decision.json);
      expect(decision.actions.map((a) => a.key.kind)).to.deep.equal(["usage-report", "distribution"]);
    });

    it("a document that is not this era's, not canonical, or not the expected hash is refused, nothing sent", async function () {
      const before = await nonce(13);
      await fails(
        ["cluster", "report-usage", "2", String(era + 1n), "--evidence", file],
        13,
        `the evidence ${file} decides cluster 2 era ${era}, not cluster 2 era ${era + 1n}`,
      );
      await fails(
        ["cluster", "distribute", "1", String(era), "--evidence", file],
        13,
        `the evidence ${file} decides cluster 2 era ${era}, not cluster 1 era ${era}`,
      );
      const wrong = "0x" + "ab".repeat(32);
      await fails(
        ["cluster", "distribute", "2", String(era), "--evidence", file, "--hash", wrong],
        13,
        `the evidence ${file} hashes to ${decision.hash}, not to ${wrong}`,
      );
      const edited = join(dir, "edited.json");
      writeFileSync(edited, JSON.stringify(JSON.parse(readFileSync(file, "utf8")), null, 2));
      await fails(
        ["cluster", "distribute", "2", String(era), "--evidence", edited],
        13,
        `the evidence ${edited} is not the canonical document its hash is of`,
        "use the file as the bot wrote it",
      );
      const notEvidence = join(dir, "not-evidence.json");
      writeFileSync(notEvidence, JSON.stringify({ cluster: 2 }));
      await fails(
        ["cluster", "distribute", "2", String(era), "--evidence", notEvidence],
        13,
        `the evidence ${notEvidence} is not an evidence document: chainId: Invalid input: expected number, received undefined`,
      );
      await fails(
        ["cluster", "distribute", "2", String(era), "--evidence", join(dir, "nowhere.json")],
        13,
        `no evidence file at ${join(dir, "nowhere.json")}`,
      );
      // Neither the manager nor an operator (nor an owner of the managing Safe).
      await fails(
        ["cluster", "distribute", "2", String(era), "--evidence", file],
        16,
        `the key ${account(16).address} is not an owner of the Safe ${record.contracts.DemoOperationsSafe}`,
      );
      expect(await nonce(13)).to.equal(before);
    });

    it("an operator reports the usage and distributes, from the document; the calls carry its hash", async function () {
      const usage = await ddc(
        ["cluster", "report-usage", "2", String(era), "--evidence", file, "--hash", decision.hash],
        13,
      );
      expect(usage.code, usage.stderr).to.equal(0);
      expect(usage.stdout.trim()).to.equal(`done: ${decision.actions[0].title}`);
      const paid = await ddc(["cluster", "distribute", "2", String(era), "--evidence", file], 13);
      expect(paid.code, paid.stderr).to.equal(0);
      expect(paid.stdout.trim()).to.equal(`done: ${decision.actions[1].title}`);
      const shown = await json<{ nextEraToDistribute: string }>(["cluster", "show", "2"]);
      expect(shown.nextEraToDistribute).to.equal(String(era + 1n));
      // The distribution on chain carries the document's hash, for this cluster and era.
      const ddcCore = IDDC__factory.connect(record.contracts.DDCCore, provider);
      const [event] = await ddcCore.queryFilter(ddcCore.filters.RevenuesDistributed(2, era));
      expect(event.args.evidenceHash).to.equal(decision.hash);
    });
  });
});
