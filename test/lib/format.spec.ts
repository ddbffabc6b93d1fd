import { expect } from "chai";
import { Interface } from "ethers";
import { decodeRevert } from "../../lib/errors";
import {
  formatDuration,
  formatMoney,
  formatTime,
  formatUnits,
  isoTime,
  relativeTime,
  valueFormat,
} from "../../lib/format";
import { IDDC__factory } from "../../typechain-types";

const USDC = { symbol: "USDC", decimals: 6 };

describe("lib/format: one way to show money and time", function () {
  it("shows amounts exactly, with the symbol", function () {
    expect(formatUnits(0n, 6)).to.equal("0");
    expect(formatUnits(25_000_000n, 6)).to.equal("25");
    expect(formatUnits(1_234_500_000n, 6)).to.equal("1234.5");
    expect(formatUnits(1n, 18)).to.equal("0.000000000000000001");
    expect(formatUnits(-1_500_000n, 6)).to.equal("-1.5");
    expect(formatMoney(25_000_000n, USDC)).to.equal("25 USDC");
    expect(formatMoney(7n, { symbol: "T", decimals: 0 })).to.equal("7 T");
  });

  it("shows durations in their two largest units", function () {
    expect(formatDuration(0)).to.equal("0 s");
    expect(formatDuration(45)).to.equal("45 s");
    expect(formatDuration(3 * 3600 + 20 * 60)).to.equal("3 h 20 min");
    expect(formatDuration(7 * 86_400)).to.equal("7 d");
    expect(formatDuration(86_400 + 3600 + 61)).to.equal("1 d 1 h");
    // A zero in the middle ends the list: 1 d 0 h 5 min reads as "1 d".
    expect(formatDuration(86_400 + 300)).to.equal("1 d");
  });

  it("shows times as ISO plus how far from now", function () {
    const now = 1_800_000_000;
    expect(isoTime(now)).to.equal("2027-01-15T08:00:00Z");
    expect(relativeTime(now + 3 * 3600, now)).to.equal("in 3 h");
    expect(relativeTime(now - 2 * 86_400, now)).to.equal("2 d ago");
    expect(relativeTime(now, now)).to.equal("now");
    expect(formatTime(BigInt(now + 7 * 86_400), BigInt(now))).to.equal("2027-01-22T08:00:00Z (in 7 d)");
  });

  it("decoded errors show money with the symbol, times as ISO, states in words", function () {
    const core = IDDC__factory.createInterface();
    const owner = "0x" + "11".repeat(20);
    const data = core.encodeErrorResult("LedgerInsufficientFree", [owner, 3, 25_000_000n, 1_000_000_000n]);
    const format = valueFormat(USDC, 1_800_000_000);
    expect(decodeRevert(data, format)?.text).to.equal(
      `LedgerInsufficientFree(owner=${owner}, cluster=3, free=25 USDC, requested=1000 USDC)`,
    );
    // Without a format (no chain to ask), the raw figures.
    expect(decodeRevert(data)?.text).to.equal(
      `LedgerInsufficientFree(owner=${owner}, cluster=3, free=25000000, requested=1000000000)`,
    );
    const locked = core.encodeErrorResult("LedgerLocked", [owner, 3, 1_800_000_000 + 3600]);
    expect(decodeRevert(locked, format)?.text).to.equal(
      `LedgerLocked(owner=${owner}, cluster=3, unlockAt=2027-01-15T09:00:00Z (in 1 h))`,
    );
    const governor = new Interface([
      "error GovernorUnexpectedProposalState(uint256 proposalId, uint8 current, bytes32 expectedStates)",
    ]);
    const state = governor.encodeErrorResult("GovernorUnexpectedProposalState", [
      42n,
      1,
      "0x" + (16).toString(16).padStart(64, "0"),
    ]);
    expect(decodeRevert(state)?.text).to.equal(
      "GovernorUnexpectedProposalState(proposalId=42, current=Active, expectedStates=Succeeded)",
    );
    const two = governor.encodeErrorResult("GovernorUnexpectedProposalState", [
      42n,
      3,
      "0x" + (0b11).toString(16).padStart(64, "0"),
    ]);
    expect(decodeRevert(two)?.text).to.equal(
      "GovernorUnexpectedProposalState(proposalId=42, current=Defeated, expectedStates=Pending or Active)",
    );
    const zero = core.encodeErrorResult("DDCZeroAddress", ["0x" + Buffer.from("to").toString("hex").padEnd(64, "0")]);
    expect(decodeRevert(zero)?.text).to.equal('DDCZeroAddress(what="to")');
  });
});
