import type { Command } from "commander";
import { decodeProposal, type DecodedCall } from "../../governance/decode";
import {
  SUPPORT,
  executeById,
  listProposals,
  proposalDetails,
  proposalState,
  queueById,
  vote,
} from "../../governance/dao";
import { parseActionKey } from "../../governance/actions";
import { formatAmount, parseAddress, parseUint, type Context } from "../context";
import { CliError, decodeRevert } from "../errors";
import { print, send } from "../output";
import type { Runner } from "../main";

function parseProposalId(raw: string): bigint {
  if (!/^\d+$/.test(raw)) throw new CliError(`a proposal id is a decimal number, got "${raw}"`);
  return BigInt(raw);
}

const title = (description: string) => /^# (.*)$/m.exec(description)?.[1] ?? description.split("\n")[0].slice(0, 80);

/** Runs each call from the Timelock's address (eth_call): what execution would do now. */
async function simulate(
  ctx: Context,
  calls: DecodedCall[],
  raw: { targets: string[]; values: bigint[]; calldatas: string[] },
) {
  const from = ctx.timelock.target as string;
  const out: { call: string; ok: boolean; revert?: string }[] = [];
  for (const [i, c] of calls.entries()) {
    try {
      await ctx.provider.call({ from, to: raw.targets[i], data: raw.calldatas[i], value: raw.values[i] });
      out.push({ call: c.text, ok: true });
    } catch (error) {
      const data = (error as { data?: string }).data;
      out.push({
        call: c.text,
        ok: false,
        revert: decodeRevert(data)?.text ?? (error as Error).message.split("\n")[0],
      });
    }
  }
  return out;
}

/** DAO members: proposals, votes, delegation. */
export function registerGov(program: Command, run: Runner): void {
  const gov = program.command("gov").description("the DAO: proposals and votes");
  const fromBlock = (ctx: Context) => ctx.record.block;

  gov
    .command("list")
    .description("every proposal, newest first, with its state")
    .option("--page <blocks>", "blocks per log query (halved if the RPC refuses)", "10000")
    .action(
      run(async (ctx, o: { page: string }) => {
        const all = await listProposals(ctx.governor, {
          fromBlock: fromBlock(ctx),
          step: Number(parseUint("--page", o.page)),
          onProgress: (done, total) => ctx.progress(`reading proposals: ${done}/${total} blocks`),
        });
        const rows = [];
        for (const p of all.reverse()) {
          rows.push({
            id: p.id,
            state: await proposalState(ctx.governor, p.id),
            title: title(p.description),
            key: parseActionKey(p.description) ?? null,
            proposer: p.proposer,
          });
        }
        print(
          ctx,
          rows,
          rows.length === 0 ? "no proposals" : rows.map((r) => `${r.id}  ${r.state.padEnd(9)}  ${r.title}`),
        );
      }),
    );

  gov
    .command("show <id>")
    .description(
      "a proposal: its actions decoded from the calldata, evidence hash, votes, and a simulation from the Timelock",
    )
    .action(
      run(async (ctx, raw: string) => {
        const id = parseProposalId(raw);
        const p = await proposalDetails(ctx.governor, id, { fromBlock: fromBlock(ctx) });
        const calls = decodeProposal(p, { contracts: ctx.record.contracts });
        const simulation = p.state === "Executed" || p.state === "Canceled" ? [] : await simulate(ctx, calls, p);
        const d = 18;
        const value = {
          id,
          state: p.state,
          title: title(p.description),
          proposer: p.proposer,
          key: p.key ?? null,
          evidenceHash: p.evidenceHash ?? null,
          votes: p.votes,
          eta: p.eta,
          actions: calls.map((c) => ({
            text: c.text,
            contract: c.contract,
            function: c.function,
            args: c.args,
            touches: c.touches,
            warnings: c.warnings,
          })),
          simulation,
          description: p.description,
        };
        print(ctx, value, [
          `proposal ${id}: ${value.title}`,
          `state      ${p.state}${p.eta > 0n ? ` (executable from ${new Date(Number(p.eta) * 1000).toISOString()})` : ""}`,
          `proposer   ${p.proposer}`,
          `key        ${p.key ? `cluster ${p.key.cluster}, era ${p.key.era ?? "-"}, ${p.key.kind}` : "none"}`,
          `evidence   ${p.evidenceHash ?? "none"}`,
          `votes      for ${formatAmount(p.votes.for, d)}, against ${formatAmount(p.votes.against, d)}, abstain ${formatAmount(p.votes.abstain, d)}`,
          "actions:",
          ...calls.flatMap((c, i) => [`  ${i + 1}. ${c.text}`, ...c.warnings.map((w) => `     ! ${w}`)]),
          ...(simulation.length
            ? [
                "simulated from the Timelock now:",
                ...simulation.map((s, i) => `  ${i + 1}. ${s.ok ? "ok" : `REVERTS: ${s.revert}`}`),
              ]
            : []),
        ]);
      }),
    );

  gov
    .command("vote <id> <support>")
    .description("vote for, against or abstain (with --reason, on chain)")
    .option("--reason <text>", "why")
    .action(
      run(async (ctx, raw: string, support: string, o: { reason?: string }) => {
        const id = parseProposalId(raw);
        if (!(support in SUPPORT)) throw new CliError(`support must be for, against or abstain, got "${support}"`);
        const signer = await ctx.signer();
        ctx.progress(`voting ${support} on ${id}…`);
        await vote(ctx.governor.connect(signer), id, support as keyof typeof SUPPORT, o.reason ?? "");
        const weight = await ctx.governor.getVotes(await signer.getAddress(), await ctx.governor.proposalSnapshot(id));
        print(
          ctx,
          { proposalId: id, support, weight },
          `voted ${support} on ${id} with ${formatAmount(weight, 18)} votes`,
        );
      }),
    );

  for (const step of ["queue", "execute"] as const) {
    gov
      .command(`${step} <id>`)
      .description(
        step === "queue"
          ? "queue a succeeded proposal in the Timelock"
          : "execute a queued proposal after the Timelock's delay",
      )
      .action(
        run(async (ctx, raw: string) => {
          const id = parseProposalId(raw);
          const governor = ctx.governor.connect(await ctx.signer());
          ctx.progress(`${step} ${id}…`);
          await (step === "queue" ? queueById : executeById)(governor, id, { fromBlock: fromBlock(ctx) });
          print(
            ctx,
            { proposalId: id, state: await proposalState(ctx.governor, id) },
            `${id}: ${await proposalState(ctx.governor, id)}`,
          );
        }),
      );
  }

  gov
    .command("delegate [to]")
    .description("delegate the key's voting power (default: to itself, which is needed to vote)")
    .action(
      run(async (ctx, raw?: string) => {
        const signer = await ctx.signer();
        const to = raw === undefined ? await signer.getAddress() : parseAddress("delegate", raw);
        await send(ctx, "delegate", () => ctx.governanceToken.connect(signer).delegate(to));
        const votes = await ctx.governanceToken.getVotes(to);
        print(ctx, { delegate: to, votes }, `delegated to ${to}, who now has ${formatAmount(votes, 18)} votes`);
      }),
    );
}
