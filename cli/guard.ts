import { createInterface } from "node:readline/promises";
import {
  AbstractSigner,
  type Provider,
  type Signer,
  type TransactionRequest,
  type TransactionResponse,
  type TypedDataDomain,
  type TypedDataField,
} from "ethers";
import { decodeCall, type DecodeContext } from "../governance/decode";
import { CliError } from "./errors";

/**
 * Every transaction and every signature a command makes passes here, whatever builds it (a
 * contract call, a Governor proposal, a Safe signature): with `--dry-run` the transaction is
 * simulated (gas estimated, so a revert is reported as the chain would report it), decoded and
 * printed, and nothing is sent; on a terminal, without `--yes`, the decoded call is shown and the
 * user asked to confirm. Off a terminal (scripts, CI) commands proceed as asked.
 */
export interface GuardOptions {
  dryRun: boolean;
  yes: boolean;
  /** Whether to ask (a terminal on both ends). */
  interactive: boolean;
  /** What the decoder knows (the deployment's contracts, the token's format). */
  decode(): Promise<DecodeContext>;
  /** Where the guard speaks (stderr). */
  say(line: string): void;
  /** Asks a yes/no question; true for yes. */
  ask?(question: string): Promise<boolean>;
}

/** Thrown, after the plan is printed, when a dry run reaches its first transaction. */
export class DryRunStop extends Error {
  override name = "DryRunStop";
  constructor(readonly plan: DryRunStep) {
    super("dry run: nothing sent");
  }
}

export interface DryRunStep {
  from: string;
  to: string;
  value: bigint;
  data: string;
  gas: bigint;
  call: string;
  warnings: string[];
  /** What the simulated call returned (raw hex), when it returns something. */
  returned: string;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** A signer that simulates, shows and confirms before its inner signer sends or signs. */
export class GuardedSigner extends AbstractSigner {
  constructor(
    readonly inner: Signer,
    private readonly options: GuardOptions,
  ) {
    super(inner.provider);
  }

  override connect(provider: Provider | null): GuardedSigner {
    return new GuardedSigner(this.inner.connect(provider), this.options);
  }

  override getAddress(): Promise<string> {
    return this.inner.getAddress();
  }

  override signTransaction(tx: TransactionRequest): Promise<string> {
    return this.inner.signTransaction(tx);
  }

  override signMessage(message: string | Uint8Array): Promise<string> {
    return this.inner.signMessage(message);
  }

  override async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    const what = `sign ${Object.keys(types).find((t) => t !== "EIP712Domain") ?? "typed data"} for ${String(domain.verifyingContract ?? domain.name ?? "?")}`;
    if (this.options.dryRun) {
      this.options.say(`dry run: would ${what}; nothing signed`);
      throw new DryRunStop({
        from: await this.getAddress(),
        to: String(domain.verifyingContract ?? ""),
        value: 0n,
        data: "0x",
        gas: 0n,
        call: what,
        warnings: [],
        returned: "0x",
      });
    }
    await this.confirm(what, []);
    return this.inner.signTypedData(domain, types, value);
  }

  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    // Populating estimates the gas: a transaction that would revert fails here, before any prompt.
    const populated = await this.populateTransaction(tx);
    const to = String(populated.to ?? "");
    const decoded = decodeCall(
      { to, data: String(populated.data ?? "0x"), value: BigInt(populated.value ?? 0) },
      await this.options.decode(),
    );
    if (this.options.dryRun) {
      const from = await this.getAddress();
      const returned = await this.inner.provider!.call({ ...populated, from });
      const step: DryRunStep = {
        from,
        to,
        value: BigInt(populated.value ?? 0),
        data: String(populated.data ?? "0x"),
        gas: BigInt(populated.gasLimit ?? 0),
        call: decoded.text,
        warnings: decoded.warnings,
        returned,
      };
      throw new DryRunStop(step);
    }
    await this.confirm(decoded.text, decoded.warnings, BigInt(populated.gasLimit ?? 0));
    return this.inner.sendTransaction(populated);
  }

  private async confirm(what: string, warnings: string[], gas?: bigint): Promise<void> {
    if (this.options.yes || !this.options.interactive) return;
    this.options.say(`about to ${what.startsWith("sign ") ? what : `send ${what}`}`);
    if (gas !== undefined && gas > 0n) this.options.say(`  gas limit ${gas}`);
    for (const w of warnings) this.options.say(`  warning: ${w}`);
    const ask = this.options.ask ?? askOnTerminal;
    if (!(await ask("go ahead?")))
      throw new CliError("not confirmed: nothing was sent", "pass --yes to skip the question");
  }
}
