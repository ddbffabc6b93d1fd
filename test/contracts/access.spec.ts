import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse, FunctionFragment } from "ethers";
import { IDDC__factory } from "../../typechain-types";
import { CLUSTER_PARAMS, NODE_PARAMS, USD, exampleFixture, type ExampleFixture } from "../helpers/fixtures";
import type { IDDC } from "../../typechain-types";

/**
 * The access matrix: every mutating function of the core × every party that must not call it.
 * Each cell asserts the exact custom error, naming the caller.
 */
type Call = (ddc: IDDC, f: ExampleFixture) => Promise<ContractTransactionResponse>;

interface Row {
  name: string;
  call: Call;
  /** The parties that must be refused. */
  refused: (f: ExampleFixture) => Record<string, HardhatEthersSigner>;
  /** The expected error for a refused caller. */
  error: (f: ExampleFixture, caller: string) => { contract: "ddc" | "core"; name: string; args: unknown[] };
}

async function matrixFixture(): Promise<
  ExampleFixture & { operator: HardhatEthersSigner; writer: HardhatEthersSigner }
> {
  const f = await exampleFixture();
  const [operator, writer] = f.others;
  await f.ddc.connect(f.manager).clusterSetOperator(f.cluster, operator.address, true);
  await f.ddc
    .connect(f.manager)
    .clusterSetValidator(f.cluster, f.stranger.address, false)
    .catch(() => undefined);
  await f.ddc.connect(f.owner1).bucketGrant(f.bucket, writer.address, 0);
  return { ...f, operator, writer };
}

describe("access matrix", function () {
  const notProvider = (f: ExampleFixture) => ({
    stranger: f.stranger,
    otherProvider: f.provider2,
    manager: f.manager,
    owner: f.owner1,
    governor: f.governor,
    deployer: f.deployer,
  });
  const notManager = (f: ExampleFixture) => ({
    stranger: f.stranger,
    provider: f.provider1,
    owner: f.owner1,
    operator: f.others[0],
    governor: f.governor,
    deployer: f.deployer,
  });
  const notOwner = (f: ExampleFixture) => ({
    stranger: f.stranger,
    otherOwner: f.owner2,
    manager: f.manager,
    provider: f.provider1,
    writer: f.others[1],
    governor: f.governor,
  });
  // The manager's routine work is open to operators too.
  const notOperator = (f: ExampleFixture) => ({
    stranger: f.stranger,
    provider: f.provider1,
    owner: f.owner1,
    governor: f.governor,
    deployer: f.deployer,
  });
  const operatorError = (f: ExampleFixture, caller: string) => ({
    contract: "ddc" as const,
    name: "ClusterNotOperator",
    args: [f.cluster, caller],
  });
  const notParameters = (f: ExampleFixture) => ({
    stranger: f.stranger,
    manager: f.manager,
    pauser: f.pauser,
    deployer: f.deployer,
    owner: f.owner1,
  });
  const notPauser = (f: ExampleFixture) => ({
    stranger: f.stranger,
    manager: f.manager,
    governor: f.governor,
    deployer: f.deployer,
  });
  const nodeError = (f: ExampleFixture, caller: string) => ({
    contract: "ddc" as const,
    name: "NodeNotProvider",
    args: [f.node1, caller],
  });
  const clusterError = (f: ExampleFixture, caller: string) => ({
    contract: "ddc" as const,
    name: "ClusterNotManager",
    args: [f.cluster, caller],
  });
  const bucketError = (f: ExampleFixture, caller: string) => ({
    contract: "ddc" as const,
    name: "BucketNotOwner",
    args: [f.bucket, caller],
  });
  const roleError = (role: string) => (_f: ExampleFixture, caller: string) => ({
    contract: "core" as const,
    name: "AccessControlUnauthorizedAccount",
    args: [caller, ethers.id(role)],
  });

  const rows: Row[] = [
    {
      name: "nodeChangeParams",
      call: (d, f) => d.nodeChangeParams(f.node1, NODE_PARAMS),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "nodeRotateKey",
      call: (d, f) => d.nodeRotateKey(f.node1, f.others[5].address),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "nodeChangeRent",
      call: (d, f) => d.nodeChangeRent(f.node1, 5n * USD),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "nodeChangeCapacity",
      call: (d, f) => d.nodeChangeCapacity(f.node1, 5000n),
      refused: notProvider,
      error: nodeError,
    },
    { name: "nodeRemove", call: (d, f) => d.nodeRemove(f.node1), refused: notProvider, error: nodeError },
    {
      name: "clusterChangeParams",
      call: (d, f) => d.clusterChangeParams(f.cluster, CLUSTER_PARAMS),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterAddNode",
      call: (d, f) => d.clusterAddNode(f.cluster, f.node1, [7n]),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterRemoveNode",
      call: (d, f) => d.clusterRemoveNode(f.cluster, f.node1),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterReplaceNode",
      call: (d, f) => d.clusterReplaceNode(f.cluster, f.node1, [f.node2, f.node2], ethers.ZeroHash),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterWithdrawReserve",
      call: (d, f) => d.clusterWithdrawReserve(f.cluster, 0n, f.manager.address),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterReportUsage",
      call: (d, f) => d.clusterReportUsage(f.cluster, 0, [f.bucket], [1n], ethers.ZeroHash),
      refused: notOperator,
      error: operatorError,
    },
    {
      name: "clusterDistributeRevenues",
      call: (d, f) => d.clusterDistributeRevenues(f.cluster, 0, [], ethers.ZeroHash),
      refused: notOperator,
      error: operatorError,
    },
    { name: "claim", call: (d, f) => d.claim([f.node1], f.stranger.address), refused: notProvider, error: nodeError },
    {
      name: "nodeRequestLeave",
      call: (d, f) => d.nodeRequestLeave(f.node1, f.cluster),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "nodeCancelLeave",
      call: (d, f) => d.nodeCancelLeave(f.node1, f.cluster),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "nodeLeaveCluster",
      call: (d, f) => d.nodeLeaveCluster(f.node1, f.cluster),
      refused: notProvider,
      error: nodeError,
    },
    {
      name: "clusterSetNodeStatus",
      call: (d, f) => d.clusterSetNodeStatus(f.cluster, f.node1, 2),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterAcceptNodeRent",
      call: (d, f) => d.clusterAcceptNodeRent(f.cluster, f.node1),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterReserveResource",
      call: (d, f) => d.clusterReserveResource(f.cluster, 200n),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterProposeManager",
      call: (d, f) => d.clusterProposeManager(f.cluster, f.stranger.address),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterSetOperator",
      call: (d, f) => d.clusterSetOperator(f.cluster, f.stranger.address, true),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterSetValidator",
      call: (d, f) => d.clusterSetValidator(f.cluster, f.stranger.address, true),
      refused: notManager,
      error: clusterError,
    },
    {
      name: "clusterAcceptManager",
      call: (d, f) => d.clusterAcceptManager(f.cluster),
      refused: (f) => ({ stranger: f.stranger, manager: f.manager, operator: f.others[0], governor: f.governor }),
      error: (f, caller) => ({ contract: "ddc", name: "ClusterNotPendingManager", args: [f.cluster, caller] }),
    },
    {
      name: "bucketAllocIntoCluster",
      call: (d, f) => d.bucketAllocIntoCluster(f.bucket, 1n),
      refused: notOwner,
      error: bucketError,
    },
    {
      name: "bucketAllocWithMaxPrice",
      call: (d, f) => d.bucketAllocWithMaxPrice(f.bucket, 20n, ethers.MaxUint256),
      refused: notOwner,
      error: bucketError,
    },
    { name: "bucketSetCap", call: (d, f) => d.bucketSetCap(f.bucket, 50n), refused: notOwner, error: bucketError },
    {
      name: "bucketSetCapWithMaxPrice",
      call: (d, f) => d.bucketSetCapWithMaxPrice(f.bucket, 50n, ethers.MaxUint256),
      refused: notOwner,
      error: bucketError,
    },
    {
      name: "bucketGrant",
      call: (d, f) => d.bucketGrant(f.bucket, f.stranger.address, 1),
      refused: notOwner,
      error: bucketError,
    },
    {
      name: "bucketRevoke",
      call: (d, f) => d.bucketRevoke(f.bucket, f.others[1].address, 0),
      refused: notOwner,
      error: bucketError,
    },
    { name: "bucketClose", call: (d, f) => d.bucketClose(f.bucket), refused: notOwner, error: bucketError },
    {
      name: "setNetworkFee",
      call: (d) => d.setNetworkFee(100),
      refused: notParameters,
      error: roleError("PARAMETERS_ROLE"),
    },
    {
      name: "setFeeDestination",
      call: (d, f) => d.setFeeDestination(f.stranger.address),
      refused: notParameters,
      error: roleError("PARAMETERS_ROLE"),
    },
    {
      name: "setUnlockDelay",
      call: (d) => d.setUnlockDelay(3600),
      refused: notParameters,
      error: roleError("PARAMETERS_ROLE"),
    },
    {
      name: "setGracePeriod",
      call: (d) => d.setGracePeriod(7200),
      refused: notParameters,
      error: roleError("PARAMETERS_ROLE"),
    },
    { name: "pause", call: (d) => d.pause(), refused: notPauser, error: roleError("PAUSER_ROLE") },
  ];

  it("has a row for every function restricted to a node's provider, a cluster's manager or operators", function () {
    // Open to anyone by design: creation, trust, deposits, settlement, eviction, own ledgers and balances.
    const open = new Set([
      "nodeCreate",
      "nodeTrustManager",
      "nodeDistrustManager",
      "clusterCreate",
      "bucketCreate",
      "accountDeposit",
      "accountDepositWithPermit",
      "depositFor",
      "accountUnlock",
      "accountWithdraw",
      "bucketSettlePayment",
      "bucketEvict",
      "withdrawBalance",
    ]);
    const restricted = IDDC__factory.createInterface()
      .fragments.filter((x): x is FunctionFragment => x.type === "function")
      .filter((x) => !x.constant)
      .map((x) => x.name)
      .filter((name) => !open.has(name) && name !== "unpause")
      .sort();
    expect(rows.map((r) => r.name).sort()).to.deep.equal(restricted);
  });

  for (const row of rows) {
    describe(row.name, function () {
      it("refuses every party that must not call it, naming the caller", async function () {
        const f = await loadFixture(matrixFixture);
        const parties = Object.entries(row.refused(f));
        expect(parties.length).to.be.greaterThan(2);
        for (const [, signer] of parties) {
          const expected = row.error(f, signer.address);
          const contract = expected.contract === "ddc" ? f.ddc : f.core;
          await expect(row.call(f.ddc.connect(signer), f))
            .to.be.revertedWithCustomError(contract, expected.name)
            .withArgs(...expected.args);
        }
      });
    });
  }

  describe("unpause", function () {
    it("refuses everyone but the pauser role", async function () {
      const f = await loadFixture(matrixFixture);
      await f.core.connect(f.pauser).pause();
      for (const signer of [f.stranger, f.governor, f.manager, f.deployer]) {
        await expect(f.ddc.connect(signer).unpause())
          .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
          .withArgs(signer.address, ethers.id("PAUSER_ROLE"));
      }
    });
  });

  describe("role administration", function () {
    it("only the admin grants roles", async function () {
      const f = await loadFixture(matrixFixture);
      const role = await f.core.PARAMETERS_ROLE();
      for (const signer of [f.stranger, f.governor, f.pauser, f.manager]) {
        await expect(f.core.connect(signer).grantRole(role, signer.address))
          .to.be.revertedWithCustomError(f.core, "AccessControlUnauthorizedAccount")
          .withArgs(signer.address, ethers.ZeroHash);
      }
    });
  });

  describe("ledgers", function () {
    it("a withdrawal only ever moves the caller's own ledger", async function () {
      const f = await loadFixture(matrixFixture);
      const before = await f.ddc.getLedger(f.owner1.address, f.cluster);
      for (const signer of [f.stranger, f.manager, f.governor, f.deployer, f.pauser]) {
        // Their own ledger is empty: nothing to unlock, so nothing to withdraw.
        await expect(f.ddc.connect(signer).accountUnlock(f.cluster, before.balance))
          .to.be.revertedWithCustomError(f.ddc, "LedgerInsufficientFree")
          .withArgs(signer.address, f.cluster, 0n, before.balance);
        await expect(f.ddc.connect(signer).accountWithdraw(f.cluster, 1n, signer.address))
          .to.be.revertedWithCustomError(f.ddc, "LedgerLocked")
          .withArgs(signer.address, f.cluster, 0n);
      }
      const after = await f.ddc.getLedger(f.owner1.address, f.cluster);
      expect(after.balance).to.equal(before.balance);
      expect(await f.token.balanceOf(f.coreAddress)).to.equal(f.deposit);
    });
  });
});
