import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { deployCore, type CoreParameters } from "../../deploy/core";
import { DDCCore__factory } from "../../typechain-types";
import {
  CLUSTER_PARAMS,
  GIB,
  NODE_PARAMS,
  RENT,
  USD,
  coreFixture,
  exampleFixture,
  type CoreFixture,
} from "../helpers/fixtures";

// ───────────────────────────────────────── helpers ──────────────────────────────────────────

const HOUR = 60 * 60;
const DAY = 24 * HOUR;
const MAX_NETWORK_FEE_BPS = 1000;
const MAX_UNLOCK_DELAY = 30 * DAY;
const MIN_GRACE_PERIOD = HOUR;
const MAX_GRACE_PERIOD = 90 * DAY;

const name = (s: string): string => ethers.encodeBytes32String(s);

async function roles(f: CoreFixture): Promise<{ admin: string; parameters: string; pauser: string }> {
  return {
    admin: await f.core.DEFAULT_ADMIN_ROLE(),
    parameters: await f.core.PARAMETERS_ROLE(),
    pauser: await f.core.PAUSER_ROLE(),
  };
}

function deployWith(f: CoreFixture, changes: Partial<CoreParameters> & { token?: string; admin?: string }) {
  return f.token.getAddress().then((token) =>
    deployCore(f.deployer, {
      token: changes.token ?? token,
      admin: changes.admin ?? f.deployer.address,
      parameters: { ...f.parameters, ...changes },
    }),
  );
}

// ───────────────────────────────────────── tests ────────────────────────────────────────────

describe("global parameters", function () {
  describe("setNetworkFee", function () {
    it("sets the fee within 0..1000 bps and emits the old and new values", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setNetworkFee(MAX_NETWORK_FEE_BPS))
        .to.emit(f.ddc, "NetworkFeeChanged")
        .withArgs(500, MAX_NETWORK_FEE_BPS);
      expect((await f.ddc.globalParams()).networkFeeBps).to.equal(BigInt(MAX_NETWORK_FEE_BPS));
      await expect(f.ddc.connect(f.governor).setNetworkFee(0))
        .to.emit(f.ddc, "NetworkFeeChanged")
        .withArgs(MAX_NETWORK_FEE_BPS, 0);
      expect((await f.ddc.globalParams()).networkFeeBps).to.equal(0n);
    });

    it("reverts with DDCParameterOutOfRange above 1000 bps", async function () {
      const f = await loadFixture(coreFixture);
      for (const fee of [MAX_NETWORK_FEE_BPS + 1, 65_535]) {
        await expect(f.ddc.connect(f.governor).setNetworkFee(fee))
          .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
          .withArgs(name("networkFeeBps"), fee, 0, MAX_NETWORK_FEE_BPS);
      }
      expect((await f.ddc.globalParams()).networkFeeBps).to.equal(500n);
    });

    it("reverts with AccessControlUnauthorizedAccount without PARAMETERS_ROLE, the admin included", async function () {
      const f = await loadFixture(coreFixture);
      const { parameters } = await roles(f);
      for (const caller of [f.stranger, f.pauser, f.deployer]) {
        await expect(f.ddc.connect(caller).setNetworkFee(1))
          .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, parameters);
      }
    });
  });

  describe("setFeeDestination", function () {
    it("sets the destination and emits the old and new values", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setFeeDestination(f.stranger.address))
        .to.emit(f.ddc, "FeeDestinationChanged")
        .withArgs(f.feeDestination.address, f.stranger.address);
      expect((await f.ddc.globalParams()).feeDestination).to.equal(f.stranger.address);
    });

    it('reverts with DDCZeroAddress("feeDestination") for the zero address', async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setFeeDestination(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(name("feeDestination"));
    });

    it("reverts with AccessControlUnauthorizedAccount without PARAMETERS_ROLE", async function () {
      const f = await loadFixture(coreFixture);
      const { parameters } = await roles(f);
      await expect(f.ddc.connect(f.stranger).setFeeDestination(f.stranger.address))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, parameters);
    });
  });

  describe("setUnlockDelay", function () {
    it("sets the delay within 0..30 days and emits the old and new values", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setUnlockDelay(MAX_UNLOCK_DELAY))
        .to.emit(f.ddc, "UnlockDelayChanged")
        .withArgs(7 * DAY, MAX_UNLOCK_DELAY);
      expect((await f.ddc.globalParams()).unlockDelay).to.equal(BigInt(MAX_UNLOCK_DELAY));
      await expect(f.ddc.connect(f.governor).setUnlockDelay(0))
        .to.emit(f.ddc, "UnlockDelayChanged")
        .withArgs(MAX_UNLOCK_DELAY, 0);
      expect((await f.ddc.globalParams()).unlockDelay).to.equal(0n);
    });

    it("applies to the next unlock request", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.governor).setUnlockDelay(2 * DAY);
      const t = (await time.latest()) + 10;
      await time.setNextBlockTimestamp(t);
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, USD))
        .to.emit(f.ddc, "UnlockRequested")
        .withArgs(f.owner1.address, f.cluster, USD, t + 2 * DAY);
    });

    it("reverts with DDCParameterOutOfRange above 30 days", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setUnlockDelay(MAX_UNLOCK_DELAY + 1))
        .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
        .withArgs(name("unlockDelay"), MAX_UNLOCK_DELAY + 1, 0, MAX_UNLOCK_DELAY);
    });

    it("reverts with AccessControlUnauthorizedAccount without PARAMETERS_ROLE", async function () {
      const f = await loadFixture(coreFixture);
      const { parameters } = await roles(f);
      await expect(f.ddc.connect(f.stranger).setUnlockDelay(DAY))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, parameters);
    });
  });

  describe("setGracePeriod", function () {
    it("sets the period within 1 hour..90 days and emits the old and new values", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.ddc.connect(f.governor).setGracePeriod(MIN_GRACE_PERIOD))
        .to.emit(f.ddc, "GracePeriodChanged")
        .withArgs(7 * DAY, MIN_GRACE_PERIOD);
      await expect(f.ddc.connect(f.governor).setGracePeriod(MAX_GRACE_PERIOD))
        .to.emit(f.ddc, "GracePeriodChanged")
        .withArgs(MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
      expect((await f.ddc.globalParams()).gracePeriod).to.equal(BigInt(MAX_GRACE_PERIOD));
    });

    it("changes the runway a ledger keeps", async function () {
      const f = await loadFixture(exampleFixture);
      await f.ddc.connect(f.governor).setGracePeriod(30 * DAY);
      // 10 units × 4 tUSD for a whole month.
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).runway).to.equal(40n * USD);
    });

    it("reverts with DDCParameterOutOfRange below 1 hour and above 90 days", async function () {
      const f = await loadFixture(coreFixture);
      for (const period of [0, MIN_GRACE_PERIOD - 1, MAX_GRACE_PERIOD + 1]) {
        await expect(f.ddc.connect(f.governor).setGracePeriod(period))
          .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
          .withArgs(name("gracePeriod"), period, MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
      }
    });

    it("reverts with AccessControlUnauthorizedAccount without PARAMETERS_ROLE", async function () {
      const f = await loadFixture(coreFixture);
      const { parameters } = await roles(f);
      await expect(f.ddc.connect(f.pauser).setGracePeriod(DAY))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.pauser.address, parameters);
    });
  });

  describe("roles", function () {
    it("the deployer loses every power once it renounces its roles", async function () {
      const f = await loadFixture(coreFixture);
      const r = await roles(f);
      await f.core.connect(f.deployer).grantRole(r.parameters, f.deployer.address);
      await f.core.connect(f.deployer).grantRole(r.pauser, f.deployer.address);
      await f.ddc.connect(f.deployer).setNetworkFee(42);
      expect((await f.ddc.globalParams()).networkFeeBps).to.equal(42n);

      for (const role of [r.parameters, r.pauser, r.admin]) {
        await f.core.connect(f.deployer).renounceRole(role, f.deployer.address);
        expect(await f.core.hasRole(role, f.deployer.address)).to.equal(false);
      }
      await expect(f.ddc.connect(f.deployer).setNetworkFee(1))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.deployer.address, r.parameters);
      await expect(f.ddc.connect(f.deployer).setGracePeriod(DAY))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.deployer.address, r.parameters);
      await expect(f.core.connect(f.deployer).pause())
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.deployer.address, r.pauser);
      await expect(f.core.connect(f.deployer).grantRole(r.parameters, f.deployer.address))
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.deployer.address, r.admin);
      // The holders keep theirs.
      await f.ddc.connect(f.governor).setNetworkFee(7);
      expect((await f.ddc.globalParams()).networkFeeBps).to.equal(7n);
    });
  });

  describe("constructor", function () {
    it("stores the parameters, grants only the admin role and emits each parameter from zero", async function () {
      const f = await loadFixture(coreFixture);
      const r = await roles(f);
      expect(await f.core.hasRole(r.admin, f.deployer.address)).to.equal(true);
      const { core, ddc } = await deployWith(f, { networkFeeBps: 250, unlockDelay: 3 * DAY, gracePeriod: 2 * HOUR });
      const deployment = core.deploymentTransaction();
      if (deployment === null) throw new Error("no deployment transaction");
      await expect(deployment).to.emit(core, "NetworkFeeChanged").withArgs(0, 250);
      await expect(deployment)
        .to.emit(core, "FeeDestinationChanged")
        .withArgs(ethers.ZeroAddress, f.feeDestination.address);
      await expect(deployment)
        .to.emit(core, "UnlockDelayChanged")
        .withArgs(0, 3 * DAY);
      await expect(deployment)
        .to.emit(core, "GracePeriodChanged")
        .withArgs(0, 2 * HOUR);
      const params = await ddc.globalParams();
      expect(params.networkFeeBps).to.equal(250n);
      expect(params.feeDestination).to.equal(f.feeDestination.address);
      expect(params.unlockDelay).to.equal(BigInt(3 * DAY));
      expect(params.gracePeriod).to.equal(BigInt(2 * HOUR));
      expect(await core.hasRole(r.admin, f.deployer.address)).to.equal(true);
      expect(await core.hasRole(r.parameters, f.deployer.address)).to.equal(false);
      expect(await core.hasRole(r.pauser, f.deployer.address)).to.equal(false);
    });

    it("reverts with DDCZeroAddress for a zero token, admin or fee destination", async function () {
      const f = await loadFixture(coreFixture);
      await expect(deployWith(f, { token: ethers.ZeroAddress }))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(name("token"));
      await expect(deployWith(f, { admin: ethers.ZeroAddress }))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(name("admin"));
      await expect(deployWith(f, { feeDestination: ethers.ZeroAddress }))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(name("feeDestination"));
    });

    it("reverts with DDCParameterOutOfRange for each parameter out of its range", async function () {
      const f = await loadFixture(coreFixture);
      await expect(deployWith(f, { networkFeeBps: MAX_NETWORK_FEE_BPS + 1 }))
        .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
        .withArgs(name("networkFeeBps"), MAX_NETWORK_FEE_BPS + 1, 0, MAX_NETWORK_FEE_BPS);
      await expect(deployWith(f, { unlockDelay: MAX_UNLOCK_DELAY + 1 }))
        .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
        .withArgs(name("unlockDelay"), MAX_UNLOCK_DELAY + 1, 0, MAX_UNLOCK_DELAY);
      await expect(deployWith(f, { gracePeriod: MIN_GRACE_PERIOD - 1 }))
        .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
        .withArgs(name("gracePeriod"), MIN_GRACE_PERIOD - 1, MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
      await expect(deployWith(f, { gracePeriod: MAX_GRACE_PERIOD + 1 }))
        .to.be.revertedWithCustomError(f.ddc, "DDCParameterOutOfRange")
        .withArgs(name("gracePeriod"), MAX_GRACE_PERIOD + 1, MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
    });

    it('reverts with DDCZeroAddress("views") for a views extension without code', async function () {
      const f = await loadFixture(coreFixture);
      const { addresses } = await deployWith(f, {});
      const libraries = {
        "contracts/core/logic/NodeLogic.sol:NodeLogic": addresses.NodeLogic,
        "contracts/core/logic/ClusterLogic.sol:ClusterLogic": addresses.ClusterLogic,
        "contracts/core/logic/BucketLogic.sol:BucketLogic": addresses.BucketLogic,
        "contracts/core/logic/UsageLogic.sol:UsageLogic": addresses.UsageLogic,
        "contracts/core/logic/RevenueLogic.sol:RevenueLogic": addresses.RevenueLogic,
      };
      const factory = new DDCCore__factory(libraries, f.deployer);
      const token = await f.token.getAddress();
      await expect(factory.deploy(token, f.deployer.address, f.parameters, f.stranger.address))
        .to.be.revertedWithCustomError(f.ddc, "DDCZeroAddress")
        .withArgs(name("views"));
      const core = await factory.deploy(token, f.deployer.address, f.parameters, addresses.DDCViews);
      expect(await core.viewsExtension()).to.equal(addresses.DDCViews);
    });
  });

  describe("pause / unpause", function () {
    it("the pauser pauses and unpauses, with events", async function () {
      const f = await loadFixture(coreFixture);
      expect(await f.core.paused()).to.equal(false);
      await expect(f.core.connect(f.pauser).pause()).to.emit(f.core, "Paused").withArgs(f.pauser.address);
      expect(await f.core.paused()).to.equal(true);
      await expect(f.core.connect(f.pauser).unpause()).to.emit(f.core, "Unpaused").withArgs(f.pauser.address);
      expect(await f.core.paused()).to.equal(false);
    });

    it("reverts with EnforcedPause when paused twice and ExpectedPause when not paused", async function () {
      const f = await loadFixture(coreFixture);
      await expect(f.core.connect(f.pauser).unpause()).to.be.revertedWithCustomError(f.core, "ExpectedPause");
      await f.core.connect(f.pauser).pause();
      await expect(f.core.connect(f.pauser).pause()).to.be.revertedWithCustomError(f.core, "EnforcedPause");
    });

    it("reverts with AccessControlUnauthorizedAccount without PAUSER_ROLE, the governor included", async function () {
      const f = await loadFixture(coreFixture);
      const { pauser } = await roles(f);
      for (const caller of [f.stranger, f.governor, f.deployer]) {
        await expect(f.core.connect(caller).pause())
          .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, pauser);
      }
      await f.core.connect(f.pauser).pause();
      await expect(f.core.connect(f.stranger).unpause())
        .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, pauser);
    });

    it("blocks node, cluster and bucket creation, allocation and settlement", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      const calls = [
        () => f.ddc.connect(f.provider1).nodeCreate(f.others[5].address, 1000n, RENT, NODE_PARAMS),
        () => f.ddc.connect(f.manager).clusterCreate(f.manager.address, CLUSTER_PARAMS, GIB),
        () => f.ddc.connect(f.owner2).bucketCreate(f.cluster, ""),
        () => f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 11n),
        () => f.ddc.connect(f.owner1).bucketAllocWithMaxPrice(f.bucket, 11n, 10n * RENT),
        () => f.ddc.connect(f.stranger).bucketSettlePayment(f.cluster, [f.bucket]),
        () => f.ddc.connect(f.stranger).bucketSettlePayment(f.cluster, []),
      ];
      for (const call of calls) {
        await expect(call()).to.be.revertedWithCustomError(f.core, "EnforcedPause");
      }
      await f.core.connect(f.pauser).unpause();
      await f.ddc.connect(f.owner1).accountDeposit(f.cluster, USD);
      await f.ddc.connect(f.owner1).bucketAllocIntoCluster(f.bucket, 11n);
      await f.ddc.connect(f.stranger).bucketSettlePayment(f.cluster, [f.bucket]);
      expect((await f.ddc.getBucket(f.bucket)).billed).to.equal(11n);
    });

    it("never blocks deposits, so owners can keep their buckets paid while paused", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      const deadline = (await time.latest()) + DAY;
      await f.ddc.connect(f.owner1).accountDeposit(f.cluster, USD);
      await f.ddc.connect(f.owner2).depositFor(f.owner1.address, f.cluster, USD);
      // A permit that does not verify is skipped; the allowance is there, so the deposit goes on.
      await f.ddc
        .connect(f.owner1)
        .accountDepositWithPermit(f.cluster, USD, deadline, 27, ethers.ZeroHash, ethers.ZeroHash);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.be.greaterThan(f.deposit);
      expect(await f.core.paused()).to.equal(true);
    });

    it("never blocks accountUnlock, accountWithdraw or bucketClose", async function () {
      const f = await loadFixture(exampleFixture);
      await f.core.connect(f.pauser).pause();
      await expect(f.ddc.connect(f.owner1).bucketClose(f.bucket))
        .to.emit(f.ddc, "BucketClosed")
        .withArgs(f.bucket, 10n);
      const balance = (await f.ddc.getLedger(f.owner1.address, f.cluster)).balance;
      await expect(f.ddc.connect(f.owner1).accountUnlock(f.cluster, balance)).to.emit(f.ddc, "UnlockRequested");
      await time.increase(7 * DAY);
      await expect(
        f.ddc.connect(f.owner1).accountWithdraw(f.cluster, balance, f.owner1.address),
      ).to.changeTokenBalances(f.token, [f.owner1, f.core], [balance, -balance]);
      expect(await f.core.paused()).to.equal(true);
      expect((await f.ddc.getLedger(f.owner1.address, f.cluster)).balance).to.equal(0n);
    });
  });

  describe("token and globalParams", function () {
    it("token() returns the payment token", async function () {
      const f = await loadFixture(coreFixture);
      expect(await f.ddc.token()).to.equal(await f.token.getAddress());
      expect(await f.core.token()).to.equal(await f.token.getAddress());
    });

    it("globalParams() returns the values set at deployment and by governance", async function () {
      const f = await loadFixture(coreFixture);
      let params = await f.ddc.globalParams();
      expect(params.networkFeeBps).to.equal(BigInt(f.parameters.networkFeeBps));
      expect(params.feeDestination).to.equal(f.parameters.feeDestination);
      expect(params.unlockDelay).to.equal(BigInt(f.parameters.unlockDelay));
      expect(params.gracePeriod).to.equal(BigInt(f.parameters.gracePeriod));

      await f.ddc.connect(f.governor).setNetworkFee(123);
      await f.ddc.connect(f.governor).setFeeDestination(f.others[3].address);
      await f.ddc.connect(f.governor).setUnlockDelay(4 * DAY);
      await f.ddc.connect(f.governor).setGracePeriod(5 * HOUR);
      params = await f.ddc.globalParams();
      expect(params.networkFeeBps).to.equal(123n);
      expect(params.feeDestination).to.equal(f.others[3].address);
      expect(params.unlockDelay).to.equal(BigInt(4 * DAY));
      expect(params.gracePeriod).to.equal(BigInt(5 * HOUR));
    });
  });
});
