import { expect } from "chai";
import { CliError, explain } from "../../cli/errors";
import { DdcError, decodeRevert } from "../../lib/errors";
import { ConfigError } from "../../manager-bot/src/config";
import { TxError } from "../../manager-bot/src/tx";
import { IDDC__factory } from "../../typechain-types";

const NOT_FOUND = IDDC__factory.createInterface().encodeErrorResult("ClusterNotFound", [7]);

describe("lib/errors", () => {
  it("a DdcError's short message is its message unless given, with its hint and cause", () => {
    const cause = new Error("below");
    const e = new DdcError("first\n  detail", { shortMessage: "first", hint: "do this", cause });
    expect([e.name, e.message, e.shortMessage, e.hint, e.cause]).to.deep.equal([
      "DdcError",
      "first\n  detail",
      "first",
      "do this",
      cause,
    ]);
    const plain = new DdcError("only");
    expect([plain.shortMessage, plain.hint, "cause" in plain]).to.deep.equal(["only", undefined, false]);
  });

  it("the CLI's, the bot configuration's and the sender's errors are all DdcErrors", () => {
    expect(new CliError("x", "h")).to.be.instanceOf(DdcError);
    expect(new ConfigError("bot.json", ["a"])).to.be.instanceOf(DdcError);
    expect(new TxError("stuck", "not mined", { nonce: 3 })).to.be.instanceOf(DdcError);
  });

  it("decodes the project's custom errors and nothing else", () => {
    expect(decodeRevert(NOT_FOUND)).to.deep.equal({ name: "ClusterNotFound", text: "ClusterNotFound(cluster=7)" });
    expect(decodeRevert("0xdeadbeef")).to.equal(undefined);
    expect(decodeRevert("0x")).to.equal(undefined);
    expect(decodeRevert(undefined)).to.equal(undefined);
  });

  describe("explain (the CLI)", () => {
    it("prints a CliError and a ConfigError whole, with the hint", () => {
      expect(explain(new CliError("no such node", "check the id"))).to.deep.equal({
        message: "no such node",
        hint: "check the id",
      });
      expect(explain(new ConfigError("bot.json", ["a", "b"]))).to.deep.equal({
        message: "invalid bot configuration bot.json:\n  - a\n  - b",
        hint: undefined,
      });
    });

    it("prints a TxError of its own by its short message, without the details", () => {
      expect(
        explain(new TxError("stuck", "not mined after 3 fee bump(s)", { nonce: 3, hashes: ["0x01"] })),
      ).to.deep.equal({
        message: "not mined after 3 fee bump(s)",
        hint: undefined,
      });
    });

    it("explains a TxError wrapping a revert by the revert, with the hint", () => {
      const cause = Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data: NOT_FOUND });
      const e = new TxError("reverted", "simulation reverted: ClusterNotFound(cluster=7)", { data: NOT_FOUND, cause });
      expect(explain(e)).to.deep.equal({
        message: "reverted: ClusterNotFound(cluster=7)",
        hint: "check the cluster id: `ddc cluster show <id>`",
      });
    });
  });
});
