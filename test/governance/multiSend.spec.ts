import { expect } from "chai";
import { ethers } from "hardhat";
import { ZeroAddress } from "ethers";
import * as build from "../../governance/actions";
import {
  MULTI_SEND,
  canonicalMultiSendCallOnly,
  packMultiSend,
  readSafeCall,
  refundProblems,
  safeTxProblems,
  type SafeTxFields,
} from "../../governance/multiSend";

const CORE = ethers.getAddress("0x00000000000000000000000000000000000c0de1");
const MULTISEND = ethers.getAddress("0x000000000000000000000000000000000000a5a5");
const CALL_ONLY = ethers.getAddress("0x000000000000000000000000000000000000ca11");
const ELSEWHERE = ethers.getAddress("0x00000000000000000000000000000000000e1e1e");
const STRANGER = ethers.getAddress("0x000000000000000000000000000000000005a11e");
const TRUST = { chainId: 31337, contracts: { DDCCore: CORE, MultiSend: MULTISEND, MultiSendCallOnly: CALL_ONLY } };

/** Safe's own MultiSendCallOnly deployments on Ethereum (chain 1): 1.3.0 (two), 1.4.1, 1.5.0. */
const MAINNET_CALL_ONLY = [
  "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D",
  "0xA1dabEF33b3B82c7814B6D82A79e50F4AC44102B",
  "0x9641d764fc13c8B624c04430C7356C1C7C8102e2",
  "0xA83c336B20401Af773B6219BA5027174338D1836",
];

const operators = build.operators(CORE, { cluster: 3n, add: [STRANGER] }).calls[0];
const distribution = build.distribution(CORE, {
  cluster: 3n,
  era: 1n,
  ineligible: [],
  evidenceHash: ethers.id("evidence"),
}).calls[0];
const BATCH = packMultiSend([
  { to: operators.target, data: operators.data },
  { to: distribution.target, data: distribution.data },
]);

/** A Safe transaction with no refund: a batch through `to` (delegatecall), or the fields given. */
function tx(fields: Partial<SafeTxFields> = {}): SafeTxFields {
  return {
    to: CALL_ONLY,
    data: BATCH,
    operation: 1,
    baseGas: "0",
    gasPrice: "0",
    gasToken: ZeroAddress,
    refundReceiver: ZeroAddress,
    ...fields,
  };
}

describe("governance: the one rule on Safe transactions (multiSend.ts)", function () {
  describe("canonicalMultiSendCallOnly", function () {
    it("is the deployment record's MultiSendCallOnly when the record has one", function () {
      expect(canonicalMultiSendCallOnly(TRUST)).to.deep.equal([CALL_ONLY]);
      // The record wins over safe-deployments, on a chain that has Safe's own deployments too.
      expect(canonicalMultiSendCallOnly({ ...TRUST, chainId: 1 })).to.deep.equal([CALL_ONLY]);
    });

    it("on a chain whose record has none, is Safe's own deployments of it there (safe-deployments)", function () {
      expect(canonicalMultiSendCallOnly({ chainId: 1, contracts: { DDCCore: CORE } })).to.have.members(
        MAINNET_CALL_ONLY,
      );
      expect(canonicalMultiSendCallOnly({ chainId: 1 })).to.not.include(
        ethers.getAddress("0x38869bf66a61cF6bDB996A6aE40D5853Fd43B526"), // Safe 1.4.1's MultiSend (not call-only)
      );
    });

    it("is none on a chain with neither (a local chain without a record), so no delegatecall is acceptable", function () {
      expect(canonicalMultiSendCallOnly({ chainId: 31337 })).to.deep.equal([]);
      expect(canonicalMultiSendCallOnly({})).to.deep.equal([]);
      expect(readSafeCall(tx(), { chainId: 31337 })).to.deep.equal({
        kind: "refused",
        problem:
          `a delegatecall to ${CALL_ONLY}, which is not the canonical MultiSendCallOnly (none is known for chain 31337): ` +
          "it runs that contract's code with the Safe's own storage and funds, and can take over the Safe",
      });
    });
  });

  describe("readSafeCall", function () {
    it("reads a plain call as a call, whatever its calldata", function () {
      expect(readSafeCall({ to: MULTISEND, data: BATCH, operation: 0 }, TRUST)).to.deep.equal({ kind: "call" });
      expect(readSafeCall({ to: CORE, data: distribution.data }, TRUST)).to.deep.equal({ kind: "call" });
    });

    it("unpacks a batch through the canonical MultiSendCallOnly into its plain calls", function () {
      expect(readSafeCall(tx(), TRUST)).to.deep.equal({
        kind: "batch",
        calls: [
          { operation: 0, to: CORE, value: 0n, data: operators.data },
          { operation: 0, to: CORE, value: 0n, data: distribution.data },
        ],
      });
      const mainnet = readSafeCall(tx({ to: MAINNET_CALL_ONLY[3] }), { chainId: 1 });
      expect(mainnet.kind).to.equal("batch");
    });

    it("refuses a delegatecall to anything but the canonical MultiSendCallOnly, even when its calldata is a multiSend", function () {
      const refusal = (to: string, name?: string) => ({
        kind: "refused",
        problem:
          `a delegatecall to ${to}${name === undefined ? "" : ` (${name})`}, which is not the canonical ` +
          `MultiSendCallOnly (it is ${CALL_ONLY}): it runs that contract's code with the Safe's own storage and ` +
          "funds, and can take over the Safe",
      });
      // The plain MultiSend of the same deployment: it would run inner delegatecalls too.
      expect(readSafeCall(tx({ to: MULTISEND }), TRUST)).to.deep.equal(refusal(MULTISEND, "MultiSend"));
      // Any other address: a MultiSendCallOnly deployed again there, or code that only looks like one.
      expect(readSafeCall(tx({ to: ELSEWHERE }), TRUST)).to.deep.equal(refusal(ELSEWHERE));
      expect(readSafeCall(tx({ to: ELSEWHERE, data: "0x" }), TRUST)).to.deep.equal(refusal(ELSEWHERE));
      // Safe's own mainnet MultiSendCallOnly is not this deployment's (the record names another).
      expect(readSafeCall(tx({ to: MAINNET_CALL_ONLY[3] }), { ...TRUST, chainId: 1 })).to.deep.equal(
        refusal(MAINNET_CALL_ONLY[3]),
      );
    });

    it("refuses a delegatecall to the canonical MultiSendCallOnly that is not a well-formed multiSend", function () {
      expect(readSafeCall(tx({ data: distribution.data }), TRUST)).to.deep.equal({
        kind: "refused",
        problem: `a delegatecall to the MultiSendCallOnly ${CALL_ONLY} that is not a multiSend batch`,
      });
      expect(readSafeCall(tx({ data: MULTI_SEND.encodeFunctionData("multiSend", ["0x00"]) }), TRUST)).to.deep.equal({
        kind: "refused",
        problem: `a malformed batch for the MultiSendCallOnly ${CALL_ONLY}: MultiSend batch truncated at byte 0`,
      });
      // Calldata whose selector is multiSend's but whose arguments do not decode.
      const garbled = readSafeCall(tx({ data: BATCH.slice(0, 10 + 64) }), TRUST);
      expect(garbled.kind).to.equal("refused");
      expect((garbled as { problem: string }).problem).to.match(
        new RegExp(`^a malformed batch for the MultiSendCallOnly ${CALL_ONLY}: `),
      );
    });

    it("flags each call of a batch that is not a plain call", function () {
      const data = packMultiSend([
        { to: operators.target, data: operators.data },
        { to: ELSEWHERE, data: "0x", operation: 1 },
        { to: CORE, data: distribution.data, operation: 2 },
      ]);
      const read = readSafeCall(tx({ data }), TRUST);
      if (read.kind !== "batch") throw new Error(`read as ${read.kind}`);
      expect(read.calls.map((c) => c.problem)).to.deep.equal([
        undefined,
        `call 2 of the batch is a delegatecall to ${ELSEWHERE}: a batch holds plain calls only (MultiSendCallOnly reverts it)`,
        `call 3 of the batch is a call of operation 2 to ${CORE}: a batch holds plain calls only (MultiSendCallOnly reverts it)`,
      ]);
      expect(safeTxProblems(tx({ data }), TRUST)).to.deep.equal([read.calls[1].problem, read.calls[2].problem]);
    });
  });

  describe("safeTxProblems", function () {
    it("accepts the canonical batch and a plain call, with no refund", function () {
      expect(safeTxProblems(tx(), TRUST)).to.deep.equal([]);
      expect(safeTxProblems(tx({ to: CORE, data: distribution.data, operation: 0 }), TRUST)).to.deep.equal([]);
    });

    it("refuses a gas refund, each of its four fields on its own", function () {
      const cases: [Partial<SafeTxFields>, string][] = [
        [{ gasPrice: "1" }, "a gas refund: gasPrice is 1, not 0 (the Safe would pay it out of its own funds)"],
        [{ baseGas: "21000" }, "a gas refund: baseGas is 21000, not 0 (the Safe would pay it out of its own funds)"],
        [
          { gasToken: STRANGER.toLowerCase() },
          `a gas refund: gasToken is ${STRANGER}, not the zero address (the Safe would pay it out of its own funds)`,
        ],
        [
          { refundReceiver: STRANGER },
          `a gas refund: refundReceiver is ${STRANGER}, not the zero address (the Safe would pay it out of its own funds)`,
        ],
      ];
      for (const [fields, problem] of cases) {
        expect(refundProblems(tx(fields)), JSON.stringify(fields)).to.deep.equal([problem]);
        // On a plain call as on a batch.
        expect(safeTxProblems(tx({ ...fields, to: CORE, data: distribution.data, operation: 0 }), TRUST)).to.deep.equal(
          [problem],
        );
      }
    });

    it("names every problem of a transaction that has several", function () {
      const problems = safeTxProblems(tx({ to: MULTISEND, gasPrice: "7", refundReceiver: STRANGER }), TRUST);
      expect(problems).to.have.length(3);
      expect(problems[0]).to.match(new RegExp(`^a delegatecall to ${MULTISEND} \\(MultiSend\\)`));
      expect(problems.slice(1).map((p) => p.split(",")[0])).to.deep.equal([
        "a gas refund: gasPrice is 7",
        `a gas refund: refundReceiver is ${STRANGER}`,
      ]);
    });
  });
});
