import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, parseEther } from "ethers";
import { readRecord } from "../../deploy/record";
import { DDCGovernor__factory } from "../../typechain-types";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { devAccount } from "../helpers/temp";

const ROOT = join(__dirname, "..", "..");
const BIN = join(ROOT, "node_modules", ".bin");

/** `npm run deploy -- --network localhost [--demo]` against `url`; resolves with its output. */
async function deploy(url: string, dir: string, demo: boolean): Promise<string> {
  const args = ["deploy", "--network", "localhost", ...(demo ? ["--demo"] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(join(BIN, "hardhat"), args, {
      cwd: ROOT,
      env: { ...process.env, DDC_LOCAL_RPC: url, DDC_DEPLOYMENTS_DIR: dir, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`deploy exited with ${code}:\n${out}`))));
  });
}

const SYSTEM = [
  "Safe",
  "SafeProxyFactory",
  "PaymentToken",
  "DDCGovernanceToken",
  "TimelockController",
  "GuardianSafe",
  "DDCGovernor",
  "DDCCore",
  "DDCViews",
  "DDCLens",
];

for (const kind of ["hardhat", "anvil"] as const) {
  describe(`npm run deploy against ${kind === "hardhat" ? "npx hardhat node" : "anvil"} on loopback`, function () {
    this.timeout(300_000);
    let node: LocalNode | undefined;
    let port = 0;
    const dir = mkdtempSync(join(tmpdir(), `ddc-deploy-${kind}-`));
    const file = join(dir, "localhost.json");

    before(async function () {
      port = await freePort();
      node = await startNode(kind, port);
    });
    after(async function () {
      await node?.stop();
    });

    it("deploys the whole system and the demo world, and writes the record", async function () {
      const out = await deploy(node!.url, dir, true);
      expect(out).to.match(/deployed 2[0-9]: PaymentToken, Safe, /);
      expect(out).to.include("cluster 1: managed by the DAO");
      expect(out).to.include("cluster 2: managed by the operations Safe");
      const record = readRecord(file)!;
      expect(record.chainId).to.equal(31337);
      expect(record.block).to.be.greaterThan(0);
      expect(Object.keys(record.contracts)).to.include.members([...SYSTEM, "DemoOperationsSafe"]);
      expect((record.parameters as { core: { networkFeeBps: number } }).core.networkFeeBps).to.equal(500);
      const provider = new JsonRpcProvider(node!.url, 31337, { staticNetwork: true });
      for (const address of Object.values(record.contracts)) expect(await provider.getCode(address)).to.not.equal("0x");
      // The bot's key (account 13) can propose: its votes are above the threshold, far below a quorum.
      const governor = DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider);
      const bot = devAccount(13).address;
      const clock = await governor.clock();
      const votes = await governor.getVotes(bot, clock - 1n);
      expect(await governor.proposalThreshold()).to.equal(parseEther("1000"));
      expect(votes).to.equal(parseEther("2000"));
      expect(votes).to.be.lessThan(await governor.quorum(clock - 1n));
      provider.destroy();
    });

    it("run again, deploys nothing and leaves the record as it was", async function () {
      const before = readFileSync(file, "utf8");
      const out = await deploy(node!.url, dir, true);
      expect(out).to.include("nothing to deploy: every contract is in place");
      expect(out).to.include("demo world: already there");
      expect(out).to.not.match(/deployed at/);
      expect(readFileSync(file, "utf8")).to.equal(before);
    });

    it("after a node restart (no code at the recorded addresses), deploys everything again", async function () {
      await node!.stop();
      node = await startNode(kind, port);
      const out = await deploy(node.url, dir, false);
      expect(out).to.include("no code at the recorded address");
      expect(out).to.match(/deployed 2[0-9]: PaymentToken, Safe, /);
      const record = readRecord(file)!;
      const provider = new JsonRpcProvider(node.url, 31337, { staticNetwork: true });
      for (const name of SYSTEM) expect(await provider.getCode(record.contracts[name])).to.not.equal("0x");
      provider.destroy();
    });
  });
}
