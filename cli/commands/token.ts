import type { Command } from "commander";
import { Interface, formatEther, parseEther, toQuantity } from "ethers";
import { tokenJson } from "../../lib/format";
import { parseAddress, parseAmount, type Context } from "../context";
import { CliError } from "../errors";
import { DryRunStop } from "../guard";
import { print } from "../output";
import type { Runner } from "../main";

/** The chain id of development nodes (hardhat node, anvil): the only chain the faucet serves. */
export const DEV_CHAIN_ID = 31337n;
/** What the faucet gives when no amount is named, in whole tokens. */
export const FAUCET_DEFAULT = "1000";
/** The most one faucet call gives, in whole tokens. */
export const FAUCET_MAX = 1_000_000n;
/** The native balance the faucet tops an account up to, for its gas. */
export const FAUCET_NATIVE = parseEther("10");

const MINTABLE = new Interface([
  "function owner() view returns (address)",
  "function mint(address to, uint256 amount)",
]);

/**
 * Refuses any chain but a development one, before anything else is asked of it: the faucet
 * rewrites balances, which only a development node allows, and a token's real supply is its
 * issuer's business.
 */
export async function requireDevChain(ctx: Pick<Context, "provider">): Promise<void> {
  const chainId = BigInt(String(await ctx.provider.send("eth_chainId", [])));
  if (chainId !== DEV_CHAIN_ID) {
    throw new CliError(
      `the faucet works on development chains only (chain id ${DEV_CHAIN_ID}: hardhat node, anvil); this RPC answers chain id ${chainId}: nothing sent`,
      "on other chains tokens come from their issuer or an exchange, and gas from the chain's own faucet",
    );
  }
}

/** `ddc token`: the payment token (a faucet on development chains). */
export function registerToken(program: Command, run: Runner): void {
  const token = program.command("token").description("the payment token");

  token
    .command("faucet [amount]")
    .description(
      `development chains only (chain id ${DEV_CHAIN_ID}): mint payment tokens (default ${FAUCET_DEFAULT}, at most ${FAUCET_MAX} a call) and top the account up to ${formatEther(FAUCET_NATIVE)} of the native token for gas`,
    )
    .option("--to <address>", "who receives them (default: the key's account)")
    .action(
      run(async (ctx, rawAmount: string | undefined, o: { to?: string }) => {
        await requireDevChain(ctx);
        const info = await ctx.tokenInfo();
        const amount = parseAmount(rawAmount ?? FAUCET_DEFAULT, info.decimals);
        const max = FAUCET_MAX * 10n ** BigInt(info.decimals);
        if (amount === 0n) throw new CliError("amount must be more than 0");
        if (amount > max) {
          throw new CliError(
            `the faucet gives at most ${await ctx.money(max)} a call, asked ${await ctx.money(amount)}: nothing sent`,
          );
        }
        const to = o.to !== undefined ? parseAddress("--to", o.to) : await (await ctx.signer()).getAddress();
        const tokenAddress = ctx.token.target as string;
        let owner: string;
        try {
          owner = String(
            MINTABLE.decodeFunctionResult(
              "owner",
              await ctx.provider.call({ to: tokenAddress, data: MINTABLE.encodeFunctionData("owner") }),
            )[0],
          );
        } catch {
          throw new CliError(
            `the payment token ${tokenAddress} has no owner(): it is not the test token, the faucet cannot mint it`,
          );
        }
        const data = MINTABLE.encodeFunctionData("mint", [to, amount]);
        if (ctx.options.dryRun === true) {
          throw new DryRunStop({
            from: owner,
            to: tokenAddress,
            value: 0n,
            data,
            gas: 0n,
            call: `PaymentToken.mint(to=${to}, amount=${await ctx.money(amount)}), and the native balance of ${to} topped up to ${formatEther(FAUCET_NATIVE)}`,
            warnings: [],
            returned: "0x",
          });
        }

        // Gas first: a fresh account holds no native token either. A development node sets any
        // balance directly (anvil answers the hardhat_ methods too).
        const native = await ctx.provider.getBalance(to);
        const given = native < FAUCET_NATIVE ? FAUCET_NATIVE - native : 0n;
        if (given > 0n) await ctx.provider.send("hardhat_setBalance", [to, toQuantity(FAUCET_NATIVE)]);

        // The tokens are minted as the token's owner, whoever that is: impersonating `owner()`
        // works whether the owner is a development account, a deployer whose key this process
        // does not hold, or a contract (a Safe, the Timelock) after a transfer of ownership; the
        // well-known development key works only in the first case.
        if ((await ctx.provider.getBalance(owner)) < parseEther("1")) {
          await ctx.provider.send("hardhat_setBalance", [owner, toQuantity(parseEther("1"))]);
        }
        ctx.progress(`faucet: minting ${await ctx.money(amount)} to ${to} as the token's owner ${owner}…`);
        await ctx.provider.send("hardhat_impersonateAccount", [owner]);
        try {
          const hash = String(
            await ctx.provider.send("eth_sendTransaction", [{ from: owner, to: tokenAddress, data }]),
          );
          const receipt = await ctx.provider.waitForTransaction(hash);
          if (receipt === null || receipt.status !== 1) throw new CliError(`faucet: the mint ${hash} failed`);
          ctx.progress(`faucet: mined in block ${receipt.blockNumber}`);
        } finally {
          await ctx.provider.send("hardhat_stopImpersonatingAccount", [owner]);
        }
        const balance = await ctx.token.balanceOf(to);
        print(ctx, { to, amount, native: given, balance, token: tokenJson(info) }, [
          `faucet: ${await ctx.money(amount)} to ${to}${given > 0n ? `, and ${formatEther(given)} of the native token for gas` : ""}`,
          `balance ${await ctx.money(balance)}`,
        ]);
      }),
    );
}
