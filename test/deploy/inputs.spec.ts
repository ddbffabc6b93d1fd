import { expect } from "chai";
import { ethers, network } from "hardhat";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadParameters, parseParameters, type NetworkParameters } from "../../deploy/parameters";
import { DeploymentBook, readRecord } from "../../deploy/record";
import { deploySystem } from "../../deploy/system";
import { canonicalSafeContract, safeArtifact } from "../../deploy/safe";

const base = (): NetworkParameters => loadParameters("hardhat");

/** The first line naming a field in a parameters error. */
function fieldError(json: unknown): string {
  try {
    parseParameters(json, "test.json");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected the parameters to be refused");
}

describe("deployment inputs", function () {
  describe("parameters files", function () {
    it("every shipped file is valid", function () {
      for (const network of ["hardhat", "localhost", "live"]) expect(() => loadParameters(network)).to.not.throw();
    });

    it("a missing file names the network and where to put it", function () {
      expect(() => loadParameters("sepolia")).to.throw(
        /no deployment parameters for network "sepolia": create .*sepolia\.json/,
      );
    });

    it("malformed JSON names the file", function () {
      const dir = mkdtempSync(join(tmpdir(), "ddc-params-"));
      writeFileSync(join(dir, "broken.json"), "{ not json");
      expect(() => loadParameters("broken", dir)).to.throw(/broken\.json is not valid JSON/);
    });

    const cases: [string, (p: NetworkParameters) => unknown, RegExp][] = [
      [
        "a fee above the core's cap",
        (p) => ({ ...p, core: { ...p.core, networkFeeBps: 2000 } }),
        /core\.networkFeeBps: .*1000/,
      ],
      ["a grace period below an hour", (p) => ({ ...p, core: { ...p.core, gracePeriod: 60 } }), /core\.gracePeriod/],
      [
        "a threshold above the owners",
        (p) => ({ ...p, guardian: { owners: p.guardian.owners.slice(0, 1), threshold: 2 } }),
        /guardian: threshold must not exceed the number of owners/,
      ],
      [
        "the same owner twice",
        (p) => ({ ...p, guardian: { owners: [p.guardian.owners[0], p.guardian.owners[0]], threshold: 1 } }),
        /guardian: owners must differ/,
      ],
      [
        "a bad address",
        (p) => ({ ...p, paymentToken: "0x1234" }),
        /paymentToken: must be a 0x-prefixed 20-byte address/,
      ],
      [
        "a supply that is not an integer string",
        (p) => ({ ...p, governance: { ...p.governance, token: { ...p.governance.token, supply: "1e24" } } }),
        /governance\.token\.supply: must be a decimal integer string/,
      ],
      ["an unknown field", (p) => ({ ...p, extra: 1 }), /extra|Unrecognized key/],
      [
        "a quorum of 0 %",
        (p) => ({ ...p, governance: { ...p.governance, quorumPercent: 0 } }),
        /governance\.quorumPercent/,
      ],
    ];
    for (const [what, mutate, message] of cases) {
      it(`refuses ${what}`, function () {
        expect(fieldError(mutate(base())))
          .to.match(/^test\.json: invalid deployment parameters/)
          .and.match(message);
      });
    }
  });

  describe("deployment records", function () {
    it("a malformed record names the file and the field", function () {
      const dir = mkdtempSync(join(tmpdir(), "ddc-record-"));
      const file = join(dir, "x.json");
      writeFileSync(file, "[");
      expect(() => readRecord(file)).to.throw(/x\.json is not valid JSON/);
      writeFileSync(file, JSON.stringify({ chainId: 1, block: 0, contracts: { DDCCore: "nope" }, parameters: {} }));
      expect(() => readRecord(file)).to.throw(/x\.json: contracts\.DDCCore: not an address/);
      expect(readRecord(join(dir, "absent.json"))).to.equal(undefined);
    });

    it("a record of another chain is refused", async function () {
      const record = { chainId: 1, block: 5, contracts: {}, parameters: {} };
      expect(() => new DeploymentBook(ethers.provider, "mainnet.json", 31337, record)).to.throw(
        /mainnet\.json is for chain 1, but the network is chain 31337/,
      );
    });
  });

  describe("Safe's canonical deployment", function () {
    it("is adopted where the chain has it, after checking the code's hash", async function () {
      const canonical = "0xFf51A5898e281Db6DfC7855790607438dF2ca44b"; // Safe 1.5.0, safe-deployments
      const setCode = (code: string) => network.provider.send("hardhat_setCode", [canonical, code]);
      try {
        expect(await canonicalSafeContract("Safe", ethers.provider)).to.equal(undefined);
        await setCode(safeArtifact("Safe").deployedBytecode);
        expect(await canonicalSafeContract("Safe", ethers.provider)).to.equal(canonical);
        await setCode("0x600160005260206000f3"); // something else at that address
        expect(await canonicalSafeContract("Safe", ethers.provider)).to.equal(undefined);
      } finally {
        await setCode("0x");
      }
    });
  });

  describe("live-network checks, before anything is deployed", function () {
    const book = () => new DeploymentBook(ethers.provider, undefined, 31337, undefined);

    it("placeholder guardian owners (the live template) are refused", async function () {
      const [deployer] = await ethers.getSigners();
      await expect(deploySystem(deployer, loadParameters("live"), book(), { local: false })).to.be.rejectedWith(
        /a guardian owner is 0x0000000000000000000000000000000000000001, a placeholder/,
      );
    });

    it("no payment token on a live network, or one without code, is refused", async function () {
      const [deployer] = await ethers.getSigners();
      const before = await ethers.provider.getTransactionCount(deployer.address);
      const withOwners = { ...base(), paymentToken: null };
      await expect(deploySystem(deployer, withOwners, book(), { local: false })).to.be.rejectedWith(
        /paymentToken is null: a live network needs the address of an existing token/,
      );
      const noCode = { ...base(), paymentToken: "0x000000000000000000000000000000000000dEaD" };
      await expect(deploySystem(deployer, noCode, book(), { local: false })).to.be.rejectedWith(
        /paymentToken 0x000000000000000000000000000000000000dEaD has no code on this chain/,
      );
      // Nothing was deployed.
      expect(await ethers.provider.getTransactionCount(deployer.address)).to.equal(before);
    });
  });
});
