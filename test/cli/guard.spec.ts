import { expect } from "chai";
import { ethers } from "hardhat";
import { DryRunStop, GuardedSigner, type GuardOptions } from "../../cli/guard";
import { CliError } from "../../cli/errors";
import { formatMoney } from "../../lib/format";
import { TestStablecoin__factory, type TestStablecoin } from "../../typechain-types";

describe("cli/guard: every transaction is simulated, shown and confirmed", function () {
  let token: TestStablecoin;
  let said: string[];
  let asked: string[];

  beforeEach(async function () {
    const [deployer] = await ethers.getSigners();
    token = await new TestStablecoin__factory(deployer).deploy(deployer.address);
    await token.mint(deployer.address, 1_000_000_000n);
    said = [];
    asked = [];
  });

  async function guarded(options: Partial<GuardOptions>, answer = true): Promise<GuardedSigner> {
    const [deployer] = await ethers.getSigners();
    const address = await token.getAddress();
    return new GuardedSigner(deployer, {
      dryRun: false,
      yes: false,
      interactive: false,
      decode: async () => ({
        contracts: { PaymentToken: address },
        format: { money: (v) => formatMoney(v, { symbol: "tUSD", decimals: 6 }) },
      }),
      say: (line) => said.push(line),
      ask: async (q) => {
        asked.push(q);
        return answer;
      },
      ...options,
    });
  }

  const stranger = "0x" + "22".repeat(20);

  it("a dry run simulates and decodes the transaction, and sends nothing", async function () {
    const signer = await guarded({ dryRun: true });
    const nonce = await ethers.provider.getTransactionCount(await signer.getAddress());
    let stop: DryRunStop | undefined;
    try {
      await token.connect(signer).transfer(stranger, 25_000_000n);
    } catch (error) {
      stop = error as DryRunStop;
    }
    expect(stop).to.be.instanceOf(DryRunStop);
    expect(stop!.plan.call).to.equal(`PaymentToken.transfer(to=${ethers.getAddress(stranger)}, value=25 tUSD)`);
    expect(stop!.plan.gas > 21_000n).to.equal(true);
    // transfer returns true.
    expect(BigInt(stop!.plan.returned)).to.equal(1n);
    expect(await ethers.provider.getTransactionCount(await signer.getAddress())).to.equal(nonce);
    expect(await token.balanceOf(stranger)).to.equal(0n);
  });

  it("a dry run of a transaction that would revert reports the revert, not a plan", async function () {
    const signer = await guarded({ dryRun: true });
    await expect(token.connect(signer).transfer(stranger, 10n ** 30n)).to.be.revertedWithCustomError(
      token,
      "ERC20InsufficientBalance",
    );
  });

  it("on a terminal, shows the decoded call and sends only when confirmed", async function () {
    const refused = await guarded({ interactive: true }, false);
    const err = await token
      .connect(refused)
      .transfer(stranger, 1_000_000n)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(CliError);
    expect((err as CliError).message).to.equal("not confirmed: nothing was sent");
    expect(said[0]).to.equal(`about to send PaymentToken.transfer(to=${ethers.getAddress(stranger)}, value=1 tUSD)`);
    expect(asked).to.deep.equal(["go ahead?"]);
    expect(await token.balanceOf(stranger)).to.equal(0n);

    const accepted = await guarded({ interactive: true }, true);
    await (await token.connect(accepted).transfer(stranger, 1_000_000n)).wait();
    expect(await token.balanceOf(stranger)).to.equal(1_000_000n);
  });

  it("--yes, and a run off a terminal, send without asking", async function () {
    for (const options of [{ interactive: true, yes: true }, { interactive: false }]) {
      asked = [];
      const signer = await guarded(options, false);
      await (await token.connect(signer).transfer(stranger, 1n)).wait();
      expect(asked).to.deep.equal([]);
    }
    expect(await token.balanceOf(stranger)).to.equal(2n);
  });

  it("a dry run signs nothing either", async function () {
    const signer = await guarded({ dryRun: true });
    const domain = { name: "x", chainId: 31337, verifyingContract: await token.getAddress() };
    const types = { Thing: [{ name: "a", type: "uint256" }] };
    await signer.signTypedData(domain, types, { a: 1 }).then(
      () => expect.fail("signed in a dry run"),
      (e: unknown) => expect(e).to.be.instanceOf(DryRunStop),
    );
    const asking = await guarded({ interactive: true }, false);
    await asking.signTypedData(domain, types, { a: 1 }).then(
      () => expect.fail("signed without confirmation"),
      (e: unknown) => expect((e as Error).message).to.equal("not confirmed: nothing was sent"),
    );
    expect(said).to.include(`dry run: would sign Thing for ${await token.getAddress()}; nothing signed`);
  });
});
