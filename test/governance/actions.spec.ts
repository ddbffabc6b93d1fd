import { expect } from "chai";
import { ethers } from "hardhat";
import * as build from "../../governance/actions";
import { IDDC__factory } from "../../typechain-types";
import {
  decodeCall,
  decodeProposal,
  decodeSafeTransaction,
  packMultiSend,
  unpackMultiSend,
} from "../../governance/decode";

const CORE = ethers.getAddress("0x00000000000000000000000000000000000c0de1");
const TIMELOCK = ethers.getAddress("0x0000000000000000000000000000000000071111");
const MULTISEND = ethers.getAddress("0x000000000000000000000000000000000000a5a5");
const CALL_ONLY = ethers.getAddress("0x000000000000000000000000000000000000ca11");
const BOT = ethers.getAddress("0x00000000000000000000000000000000000b0b0b");
const EVIDENCE = ethers.id("evidence");
const CONTRACTS = { DDCCore: CORE, TimelockController: TIMELOCK, MultiSend: MULTISEND, MultiSendCallOnly: CALL_ONLY };

/** Every builder, with the function and arguments its single or several calls must decode to. */
const cases: {
  action: build.ManagerAction;
  calls: [string, Record<string, unknown>][];
  touches: build.ActionKey["kind"];
}[] = [
  {
    action: build.replaceNode(CORE, { cluster: 3n, era: 7n, node: 5n, replacements: [8n, 9n], evidenceHash: EVIDENCE }),
    calls: [["clusterReplaceNode", { cluster: 3n, node: 5n, replacements: [8n, 9n], evidenceHash: EVIDENCE }]],
    touches: "replace-node",
  },
  {
    action: build.usageReport(CORE, {
      cluster: 3n,
      era: 7n,
      buckets: [1n, 2n],
      measuredUnits: [10n, 0n],
      evidenceHash: EVIDENCE,
    }),
    calls: [
      [
        "clusterReportUsage",
        { cluster: 3n, era: 7n, buckets: [1n, 2n], measuredUnits: [10n, 0n], evidenceHash: EVIDENCE },
      ],
    ],
    touches: "usage-report",
  },
  {
    action: build.distribution(CORE, { cluster: 3n, era: 7n, ineligible: [9n, 4n], evidenceHash: EVIDENCE }),
    calls: [["clusterDistributeRevenues", { cluster: 3n, era: 7n, ineligibleNodes: [4n, 9n], evidenceHash: EVIDENCE }]],
    touches: "distribution",
  },
  {
    action: build.settlement(CORE, { cluster: 3n, era: 7n, buckets: [1n, 2n, 3n] }),
    calls: [["bucketSettlePayment", { cluster: 3n, buckets: [1n, 2n, 3n] }]],
    touches: "settlement",
  },
  {
    action: build.globalParameters(CORE, [
      { name: "networkFeeBps", value: 300 },
      { name: "feeDestination", value: TIMELOCK },
      { name: "unlockDelay", value: 86_400 },
      { name: "gracePeriod", value: 7200 },
    ]),
    calls: [
      ["setNetworkFee", { feeBps: 300n }],
      ["setFeeDestination", { destination: TIMELOCK }],
      ["setUnlockDelay", { delay: 86_400n }],
      ["setGracePeriod", { period: 7200n }],
    ],
    touches: "parameters",
  },
  {
    action: build.clusterParameters(CORE, {
      cluster: 3n,
      params: { replicationFactor: 3, eraLength: 7200, qosThreshold: 8000, managementFeeBps: 500, priceNotice: 86_400 },
    }),
    calls: [
      [
        "clusterChangeParams",
        {
          cluster: 3n,
          params: {
            replicationFactor: 3n,
            eraLength: 7200n,
            qosThreshold: 8000n,
            managementFeeBps: 500n,
            priceNotice: 86_400n,
          },
        },
      ],
    ],
    touches: "parameters",
  },
  {
    action: build.addNode(CORE, { cluster: 3n, node: 6n, tokens: [11n, 12n] }),
    calls: [["clusterAddNode", { cluster: 3n, node: 6n, tokens: [11n, 12n] }]],
    touches: "add-node",
  },
  {
    action: build.reservation(CORE, { cluster: 3n, unitsPerVNode: 40n }),
    calls: [["clusterReserveResource", { cluster: 3n, unitsPerVNode: 40n }]],
    touches: "reservation",
  },
  {
    action: build.handover(CORE, { cluster: 3n, step: "propose", newManager: TIMELOCK }),
    calls: [["clusterProposeManager", { cluster: 3n, newManager: TIMELOCK }]],
    touches: "handover",
  },
  {
    action: build.handover(CORE, { cluster: 3n, step: "accept" }),
    calls: [["clusterAcceptManager", { cluster: 3n }]],
    touches: "handover",
  },
  {
    action: build.operators(CORE, { cluster: 3n, add: [BOT], remove: [TIMELOCK] }),
    calls: [
      ["clusterSetOperator", { cluster: 3n, operator: BOT, enabled: true }],
      ["clusterSetOperator", { cluster: 3n, operator: TIMELOCK, enabled: false }],
    ],
    touches: "operators",
  },
  {
    action: build.validators(CORE, { cluster: 3n, add: [BOT] }),
    calls: [["clusterSetValidator", { cluster: 3n, validator: BOT, enabled: true }]],
    touches: "validators",
  },
];

describe("governance: action builders and decoders", function () {
  for (const c of cases) {
    it(`${c.action.key.kind}: ${c.action.title} — round-trips through the decoder`, function () {
      const proposal = build.toProposal(c.action, BOT);
      const decoded = decodeProposal(proposal, { contracts: CONTRACTS });
      expect(decoded.map((d) => d.function)).to.deep.equal(c.calls.map(([fn]) => fn));
      for (const [i, [, args]] of c.calls.entries()) {
        expect(Object.fromEntries(decoded[i].args.map((a) => [a.name, a.value]))).to.deep.equal(args);
        expect(decoded[i].contract).to.equal("DDCCore");
        expect(decoded[i].warnings).to.deep.equal([]);
      }
      expect(c.action.key.kind).to.equal(c.touches);
      // The description carries the title, the evidence, the key and the proposer, in that order.
      expect(proposal.description.startsWith(`# ${c.action.title}\n`)).to.equal(true);
      expect(build.parseActionKey(proposal.description)).to.deep.equal(c.action.key);
      expect(build.parseEvidence(proposal.description)).to.equal(c.action.evidenceHash);
      expect(proposal.description.endsWith(`#proposer=${BOT}`)).to.equal(true);
    });
  }

  it("names where the evidence document is published when the action says, below its hash", function () {
    const action = build.distribution(CORE, { cluster: 3n, era: 7n, ineligible: [], evidenceHash: EVIDENCE });
    const url = `https://bot.example/ddc/evidence/${EVIDENCE}`;
    const published = build.describe({ ...action, evidenceUrl: url });
    expect(published).to.equal(
      [
        `# ${action.title}`,
        "",
        "Every node is eligible.",
        "",
        `Evidence: ${EVIDENCE}`,
        `Evidence document: ${url}`,
        "",
        "ddc-action: cluster=3 era=7 kind=distribution",
      ].join("\n"),
    );
    expect(build.parseEvidenceUrl(published)).to.equal(url);
    expect(build.parseEvidence(published)).to.equal(EVIDENCE);
    expect(build.parseActionKey(published)).to.deep.equal(action.key);
    // Without one, no such line; a line that is not an http(s) URL is not one.
    expect(build.describe(action)).to.not.include("Evidence document:");
    expect(build.parseEvidenceUrl(build.describe(action))).to.equal(undefined);
    expect(build.parseEvidenceUrl("Evidence document: ftp://bot.example/evidence/0x01")).to.equal(undefined);
    expect(build.parseEvidenceUrl("Evidence document: https://bot.example/a b")).to.equal(undefined);
    expect(build.parseEvidenceUrl("see Evidence document: https://bot.example/x")).to.equal(undefined);
  });

  it("names what each call touches", function () {
    const asCall = (c: build.Call) => ({ to: c.target, data: c.data });
    const d = decodeCall(
      asCall(
        build.replaceNode(CORE, { cluster: 3n, node: 5n, replacements: [8n, 8n], evidenceHash: EVIDENCE }).calls[0],
      ),
    );
    expect(d.touches).to.deep.equal({ clusters: [3n], nodes: [5n, 8n, 8n], buckets: [] });
    expect(d.text).to.equal(
      `DDCCore.clusterReplaceNode(cluster=3, node=5, replacements=[8, 8], evidenceHash=${EVIDENCE})`,
    );
    const s = decodeCall(asCall(build.settlement(CORE, { cluster: 2n, buckets: [7n, 9n] }).calls[0]));
    expect(s.touches).to.deep.equal({ clusters: [2n], nodes: [], buckets: [7n, 9n] });
  });

  it("a tampered calldata decodes to what it really does, whatever the description says", function () {
    const honest = build.toProposal(
      build.distribution(CORE, { cluster: 3n, era: 7n, ineligible: [], evidenceHash: EVIDENCE }),
    );
    // Same description, but the call now removes a node of another cluster.
    const iface = new ethers.Interface(["function clusterRemoveNode(uint32 cluster, uint32 node)"]);
    const tampered = { ...honest, calldatas: [iface.encodeFunctionData("clusterRemoveNode", [9, 4])] };
    const [d] = decodeProposal(tampered, { contracts: CONTRACTS });
    expect(d.function).to.equal("clusterRemoveNode");
    expect(d.touches).to.deep.equal({ clusters: [9n], nodes: [4n], buckets: [] });
    expect(build.parseActionKey(tampered.description)!.kind).to.equal("distribution");
    // Sent to an address that is not the core: flagged.
    const elsewhere = decodeCall({ to: BOT, data: honest.calldatas[0] }, { contracts: CONTRACTS });
    expect(elsewhere.warnings).to.deep.equal([`the target ${BOT} is not a contract of this deployment`]);
    // Garbage is reported as unknown, with the raw data.
    const unknown = decodeCall({ to: CORE, data: "0xdeadbeef00" }, { contracts: CONTRACTS });
    expect(unknown.function).to.equal(null);
    expect(unknown.warnings).to.deep.equal(["unknown function: check the raw data"]);
  });

  it("unpacks a batch through the canonical MultiSendCallOnly (a Safe transaction) into its calls", function () {
    const a = build.operators(CORE, { cluster: 3n, add: [BOT] }).calls[0];
    const b = build.distribution(CORE, { cluster: 3n, era: 1n, ineligible: [2n], evidenceHash: EVIDENCE }).calls[0];
    const data = packMultiSend([
      { to: a.target, data: a.data },
      { to: b.target, data: b.data, value: 0n },
    ]);
    const d = decodeCall({ to: CALL_ONLY, data, operation: 1 }, { contracts: CONTRACTS });
    expect(d.text).to.equal("MultiSendCallOnly batch of 2 calls");
    expect(d.calls!.map((c) => c.function)).to.deep.equal(["clusterSetOperator", "clusterDistributeRevenues"]);
    expect(d.touches).to.deep.equal({ clusters: [3n, 3n], nodes: [2n], buckets: [] });
    expect(d.warnings).to.deep.equal([]);
    // Without the record's, Safe's own MultiSendCallOnly on the chain (here Ethereum's, of Safe 1.5.0).
    const mainnet = ethers.getAddress("0xA83c336B20401Af773B6219BA5027174338D1836");
    const m = decodeCall({ to: mainnet, data, operation: 1 }, { chainId: 1, contracts: { DDCCore: CORE } });
    expect([m.text, m.warnings]).to.deep.equal(["MultiSendCallOnly batch of 2 calls", []]);
  });

  it("decodes a delegatecall to anything but the canonical MultiSendCallOnly as a danger, never as a batch", function () {
    const a = build.operators(CORE, { cluster: 3n, add: [BOT] }).calls[0];
    const data = packMultiSend([{ to: a.target, data: a.data }]);
    const takeover = "it runs that contract's code with the Safe's own storage and funds, and can take over the Safe";
    for (const [to, name] of [
      [MULTISEND, " (MultiSend)"],
      [BOT, ""],
    ]) {
      const d = decodeCall({ to, data, operation: 1 }, { contracts: CONTRACTS });
      expect(d.calls, to).to.equal(undefined);
      expect(d.touches).to.deep.equal({ clusters: [], nodes: [], buckets: [] });
      expect(d.operation).to.equal("delegatecall");
      expect(d.text).to.match(new RegExp(`^DANGEROUS delegatecall to ${to}: .*multiSend\\(a batch, not unpacked\\)$`));
      expect(d.warnings[0]).to.equal(
        `a delegatecall to ${to}${name}, which is not the canonical MultiSendCallOnly (it is ${CALL_ONLY}): ${takeover}`,
      );
    }
    // Any function, or none at all (the target's fallback runs).
    const core = decodeCall({ to: CORE, data: a.data, operation: 1 }, { contracts: CONTRACTS });
    expect(core.text).to.equal(
      `DANGEROUS delegatecall to ${CORE}: DDCCore.clusterSetOperator(cluster=3, operator=${BOT}, enabled=true)`,
    );
    const empty = decodeCall({ to: BOT, data: "0x", operation: 1 }, { contracts: CONTRACTS });
    expect(empty.text).to.equal(`DANGEROUS delegatecall to ${BOT}: its fallback (no calldata)`);
    expect(empty.warnings[0]).to.match(new RegExp(`^a delegatecall to ${BOT}, which is not the canonical`));
    // With no deployment record and no Safe deployment on the chain, no delegatecall is a batch.
    const local = decodeCall({ to: CALL_ONLY, data, operation: 1 }, { chainId: 31337 });
    expect([local.calls, local.warnings[0]]).to.deep.equal([
      undefined,
      `a delegatecall to ${CALL_ONLY}, which is not the canonical MultiSendCallOnly (none is known for chain 31337): ${takeover}`,
    ]);
    // A multiSend by a plain call is not the Safe's batch either.
    const plain = decodeCall({ to: CALL_ONLY, data }, { contracts: CONTRACTS });
    expect([plain.calls, plain.warnings]).to.deep.equal([
      undefined,
      [`multiSend by a plain call: its calls would be made by ${CALL_ONLY}, not by the caller (not unpacked)`],
    ]);
  });

  it("flags a delegatecall inside the canonical batch, and a call the batch sends to the Safe itself", function () {
    const a = build.operators(CORE, { cluster: 3n, add: [BOT] }).calls[0];
    const sneaky = packMultiSend([
      { to: a.target, data: a.data },
      { to: BOT, data: a.data, operation: 1 },
      { to: ethers.ZeroAddress, data: "0x" },
    ]);
    const s = decodeCall({ to: CALL_ONLY, data: sneaky, operation: 1 }, { contracts: CONTRACTS });
    expect(s.calls!.map((c) => c.operation)).to.deep.equal(["call", "delegatecall", "call"]);
    expect(s.calls![1].text).to.equal(
      `DANGEROUS delegatecall to ${BOT}: DDCCore.clusterSetOperator(cluster=3, operator=${BOT}, enabled=true)`,
    );
    expect(s.warnings).to.deep.equal([
      `call 2 of the batch is a delegatecall to ${BOT}: a batch holds plain calls only (MultiSendCallOnly reverts it)`,
      `the target ${BOT} is not a contract of this deployment`,
      "to the zero address: the batch sends this call to the Safe itself",
    ]);
  });

  it("decodes a Safe transaction with its refund fields and value: a refund and a value are flagged", function () {
    const b = build.distribution(CORE, { cluster: 3n, era: 1n, ineligible: [], evidenceHash: EVIDENCE }).calls[0];
    const tx = {
      to: CORE,
      value: "0",
      data: b.data,
      operation: 0,
      baseGas: "0",
      gasPrice: "0",
      gasToken: ethers.ZeroAddress,
      refundReceiver: ethers.ZeroAddress,
    };
    const honest = decodeSafeTransaction(tx, { contracts: CONTRACTS });
    expect([honest.problems, honest.warnings]).to.deep.equal([[], []]);
    const refund = decodeSafeTransaction({ ...tx, gasPrice: "3", refundReceiver: BOT }, { contracts: CONTRACTS });
    expect(refund.problems).to.deep.equal([
      "a gas refund: gasPrice is 3, not 0 (the Safe would pay it out of its own funds)",
      `a gas refund: refundReceiver is ${BOT}, not the zero address (the Safe would pay it out of its own funds)`,
    ]);
    expect(refund.warnings).to.deep.equal(refund.problems);
    const paid = decodeSafeTransaction({ ...tx, value: "5" }, { contracts: CONTRACTS });
    expect(paid.problems).to.deep.equal([]);
    expect(paid.warnings).to.deep.equal(["it sends 5 wei"]);
    expect(paid.text).to.match(/^DDCCore\.clusterDistributeRevenues\(.*\) with 5 wei$/);
  });

  it("refuses malformed input with the reason", function () {
    expect(() => build.replaceNode(CORE, { cluster: 1n, node: 1n, replacements: [2n], evidenceHash: "0x12" })).to.throw(
      "evidence hash must be 32 bytes of hex, got 0x12",
    );
    expect(() =>
      build.usageReport(CORE, { cluster: 1n, era: 1n, buckets: [1n], measuredUnits: [], evidenceHash: EVIDENCE }),
    ).to.throw("usage report: 1 buckets but 0 measurements");
    expect(() => build.operators(CORE, { cluster: 1n })).to.throw("operators: nobody to add or remove");
    expect(() => unpackMultiSend("0x00")).to.throw("MultiSend batch truncated at byte 0");
    expect(build.parseActionKey("# no key here")).to.equal(undefined);
  });

  it("encodes usage reports as the ABI coder does, in batches of the core's maximum, and refuses values out of range", function () {
    const core = IDDC__factory.createInterface();
    const max = (1n << 64n) - 1n;
    let seed = 7n;
    const next = () => (seed = (seed * 6364136223846793005n + 1442695040888963407n) & max);
    for (const n of [1, 2, 299, 300, 301, 777]) {
      const buckets = Array.from({ length: n }, () => next());
      const units = Array.from({ length: n }, (_, i) => (i === 0 ? max : next() >> 20n));
      const action = build.usageReport(CORE, {
        cluster: 4_294_967_295n,
        era: 12n,
        buckets,
        measuredUnits: units,
        evidenceHash: EVIDENCE,
      });
      expect(action.calls).to.have.length(Math.ceil(n / build.USAGE_BATCH));
      action.calls.forEach((c, k) => {
        const slice = (xs: bigint[]) => xs.slice(k * build.USAGE_BATCH, (k + 1) * build.USAGE_BATCH);
        expect(c.data).to.equal(
          core.encodeFunctionData("clusterReportUsage", [4_294_967_295n, 12n, slice(buckets), slice(units), EVIDENCE]),
        );
      });
    }
    expect(() =>
      build.usageReport(CORE, { cluster: 1n, era: 1n, buckets: [], measuredUnits: [], evidenceHash: EVIDENCE }),
    ).to.throw("usage report: no buckets");
    expect(() => build.encodeUsageReport(1n, 1n, [max + 1n], [1n], EVIDENCE)).to.throw(
      `usage report: bucket ${max + 1n} is out of range`,
    );
    expect(() => build.encodeUsageReport(1n << 32n, 1n, [], [], EVIDENCE)).to.throw(
      "usage report: cluster 4294967296 is out of range",
    );
    expect(() => build.encodeUsageReport(1n, 1n, [1n], [-1n], EVIDENCE)).to.throw(
      "usage report: measured units -1 is out of range",
    );
    const settle = build.settlement(CORE, {
      cluster: 1n,
      buckets: Array.from({ length: 2_401 }, (_, i) => BigInt(i + 1)),
    });
    expect(
      settle.calls.map((c) => core.decodeFunctionData("bucketSettlePayment", c.data).buckets.length),
    ).to.deep.equal([1_200, 1_200, 1]);
  });
});
