import type { Command } from "commander";
import { getAddress, id as idOf, ZeroAddress } from "ethers";
import { decodeProposal, type DecodedCall } from "../../governance/decode";
import { SUPPORT, listProposals, proposalState, type ProposalRecord } from "../../governance/dao";
import { parseActionKey, parseEvidence, type ManagerAction } from "../../governance/actions";
import { formatDuration, formatMoney, formatTime, type TokenInfo } from "../../lib/format";
import { parseAddress, parseUint, type Context } from "../context";
import { CliError, decodeRevert } from "../errors";
import { print, send } from "../output";
import { carryOut, shortId } from "../managers";
import { ACTIONS } from "./manager";
import type { Runner } from "../main";

/** The fewest digits a proposal id prefix may have. */
export const MIN_PREFIX = 6;

/**
 * The proposal `raw` names: its full id, or a unique decimal prefix of at least MIN_PREFIX digits
 * (ids are 77 digits; listings print the first 10). Proposals come from the Governor's
 * `ProposalCreated` events, read in pages.
 */
export async function resolveProposal(ctx: Context, raw: string): Promise<ProposalRecord> {
  if (!/^\d+$/.test(raw)) throw new CliError(`a proposal id is a decimal number, got "${raw}"`);
  if (raw.length < MIN_PREFIX) {
    throw new CliError(
      `"${raw}" is too short for a proposal id: give the id or its first ${MIN_PREFIX} digits or more`,
      "`ddc gov list` prints each proposal's first 10 digits",
    );
  }
  const all = await listProposals(ctx.governor, {
    fromBlock: ctx.record.block,
    onProgress: (done, total) => ctx.progress(`reading proposals: ${done}/${total} blocks`),
  });
  const exact = all.find((p) => p.id.toString() === raw.replace(/^0+(?=\d)/, ""));
  if (exact !== undefined) return exact;
  const matches = all.filter((p) => p.id.toString().startsWith(raw));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0)
    throw new CliError(`no proposal ${raw} on this Governor (no id starts with it)`, "`ddc gov list` lists them");
  throw new CliError(
    `the prefix ${raw} is ambiguous: ${matches.length} proposals start with it: ${matches.map((p) => `${p.id} (${title(p.description)})`).join("; ")}`,
    "give more digits",
  );
}

const title = (description: string) => /^# (.*)$/m.exec(description)?.[1] ?? description.split("\n")[0].slice(0, 80);

/** The governance token as people read it (read once). */
let votesTokenInfo: Promise<TokenInfo> | undefined;
function votesToken(ctx: Context): Promise<TokenInfo> {
  return (votesTokenInfo ??= Promise.all([ctx.governanceToken.symbol(), ctx.governanceToken.decimals()]).then(
    ([symbol, decimals]) => ({ symbol, decimals: Number(decimals) }),
  ));
}

/**
 * The Governor's clock, as times: with `mode=timestamp` (this deployment's) a timepoint is a Unix
 * time; with block numbers, a timepoint is turned into an estimated time from the recent blocks'
 * average interval.
 */
async function governorClock(ctx: Context) {
  const [mode, clock, now] = await Promise.all([ctx.governor.CLOCK_MODE(), ctx.governor.clock(), ctx.now()]);
  const timestamps = /mode=timestamp/.test(mode);
  let secondsPerBlock = 12;
  if (!timestamps) {
    const back = Math.min(1000, Number(clock) - 1);
    if (back > 0) {
      const past = await ctx.provider.getBlock(Number(clock) - back);
      if (past !== null) secondsPerBlock = Math.max(1, (Number(now) - past.timestamp) / back);
    }
  }
  /** A timepoint as a time people read (blocks: "estimated"). */
  const at = (timepoint: bigint): { time: bigint; text: string } => {
    if (timestamps) return { time: timepoint, text: formatTime(timepoint, now) };
    const time = now + BigInt(Math.round((Number(timepoint) - Number(clock)) * secondsPerBlock));
    return { time, text: `block ${timepoint}, ${timepoint > clock ? "about " : ""}${formatTime(time, now)}` };
  };
  return { mode: timestamps ? "timestamp" : "blocknumber", clock, now, at };
}

/** The voter to show: --voter, else the key's account when a key is set. */
async function voterOf(ctx: Context, raw?: string): Promise<string | undefined> {
  if (raw !== undefined) return parseAddress("--voter", raw);
  const keyed =
    (process.env.DDC_PRIVATE_KEY ?? "") !== "" || (ctx.options.keystore ?? process.env.DDC_KEYSTORE ?? "") !== "";
  return keyed ? getAddress(await (await ctx.signer()).getAddress()) : undefined;
}

/** Runs each call from the Timelock's address (eth_call): what execution would do now. */
async function simulate(
  ctx: Context,
  calls: DecodedCall[],
  raw: { targets: string[]; values: bigint[]; calldatas: string[] },
) {
  const from = ctx.timelock.target as string;
  const format = await ctx.valueFormat();
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
        revert: decodeRevert(data, format)?.text ?? (error as Error).message.split("\n")[0],
      });
    }
  }
  return out;
}

const percent = (part: bigint, whole: bigint) =>
  whole === 0n ? "n/a" : `${(Number((part * 10_000n) / whole) / 100).toFixed(2).replace(/\.?0+$/, "")}%`;

/** DAO members: proposals, votes, delegation. */
export function registerGov(program: Command, run: Runner): void {
  const gov = program
    .command("gov")
    .description(
      "the DAO: proposals and votes (a proposal id may be shortened to a unique prefix of 6 digits or more)",
    );

  gov
    .command("list")
    .description("every proposal, newest first, with its state (ids shortened to 10 digits; --json has them whole)")
    .option("--page <blocks>", "blocks per log query (halved if the RPC refuses)", "10000")
    .action(
      run(async (ctx, o: { page: string }) => {
        const all = await listProposals(ctx.governor, {
          fromBlock: ctx.record.block,
          step: Number(parseUint("--page", o.page)),
          onProgress: (done, total) => ctx.progress(`reading proposals: ${done}/${total} blocks`),
        });
        const clock = await governorClock(ctx);
        const rows = [];
        for (const p of all.reverse()) {
          rows.push({
            id: p.id,
            state: await proposalState(ctx.governor, p.id),
            title: title(p.description),
            key: parseActionKey(p.description) ?? null,
            proposer: p.proposer,
            voteEnd: p.voteEnd,
          });
        }
        print(
          ctx,
          rows,
          rows.length === 0
            ? "no proposals"
            : rows.map(
                (r) =>
                  `${shortId(r.id)}  ${r.state.padEnd(9)}  ${r.title}${r.state === "Active" || r.state === "Pending" ? ` (vote ends ${clock.at(r.voteEnd).text})` : ""}`,
              ),
        );
      }),
    );

  gov
    .command("show <id>")
    .description(
      "a proposal: state, vote start and end, quorum and progress, your voting power and delegation, ETA, its calls decoded and simulated from the Timelock",
    )
    .option("--voter <address>", "whose voting power to show (default: the key's account, when a key is set)")
    .action(
      run(async (ctx, raw: string, o: { voter?: string }) => {
        const p = await resolveProposal(ctx, raw);
        const id = p.id;
        const g = ctx.governor;
        const [state, votes, eta, snapshot, deadline, clock, vt, voter, needsQueuing] = await Promise.all([
          proposalState(g, id),
          g.proposalVotes(id),
          g.proposalEta(id),
          g.proposalSnapshot(id),
          g.proposalDeadline(id),
          governorClock(ctx),
          votesToken(ctx),
          voterOf(ctx, o.voter),
          g.proposalNeedsQueuing(id),
        ]);
        const started = snapshot < clock.clock;
        // The quorum is a fraction of the supply at the snapshot; before it, of the supply now.
        const quorum = await g.quorum(started ? snapshot : clock.clock - 1n);
        const counted = votes.forVotes + votes.abstainVotes; // quorum=for,abstain
        const v = (x: bigint) => formatMoney(x, vt);
        const calls = decodeProposal(p, { contracts: ctx.record.contracts, format: await ctx.valueFormat() });
        const simulation = state === "Executed" || state === "Canceled" ? [] : await simulate(ctx, calls, p);
        let power:
          | {
              voter: string;
              atSnapshot: bigint | null;
              now: bigint;
              hasVoted: boolean;
              delegate: string | null;
              balance: bigint;
              undelegated: bigint;
            }
          | undefined;
        if (voter !== undefined) {
          const [atSnapshot, now, hasVoted, delegate, balance] = await Promise.all([
            started ? g.getVotes(voter, snapshot) : Promise.resolve(null),
            ctx.governanceToken.getVotes(voter),
            g.hasVoted(id, voter),
            ctx.governanceToken.delegates(voter),
            ctx.governanceToken.balanceOf(voter),
          ]);
          const none = delegate === ZeroAddress;
          power = {
            voter,
            atSnapshot,
            now,
            hasVoted,
            delegate: none ? null : delegate,
            balance,
            undelegated: none ? balance : 0n,
          };
        }
        const minDelay = await ctx.timelock.getMinDelay();
        const etaLine =
          state === "Queued" && eta > 0n
            ? `executable from ${clock.at(eta).text}${eta <= clock.now ? `: run \`ddc gov execute ${shortId(id)}\`` : ""}`
            : state === "Succeeded" && needsQueuing
              ? `not queued: \`ddc gov queue ${shortId(id)}\`, then executable ${formatDuration(minDelay)} later`
              : null;
        const value = {
          id,
          state,
          title: title(p.description),
          proposer: p.proposer,
          key: parseActionKey(p.description) ?? null,
          evidenceHash: parseEvidence(p.description) ?? null,
          clockMode: clock.mode,
          voteStart: snapshot,
          voteEnd: deadline,
          quorum,
          votes: { for: votes.forVotes, against: votes.againstVotes, abstain: votes.abstainVotes },
          quorumReached: counted >= quorum,
          ...(power === undefined ? {} : { voter: power }),
          eta,
          votesToken: vt,
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
        const lines = [
          `proposal ${shortId(id)}: ${value.title}`,
          `id         ${id}`,
          `state      ${state}`,
          `proposer   ${p.proposer}`,
          `vote start ${clock.at(snapshot).text}`,
          `vote end   ${clock.at(deadline).text}`,
          `quorum     ${v(quorum)}${started ? "" : " (the supply now: the snapshot is later)"}; for + abstain ${v(counted)}, ${percent(counted, quorum)} of it${counted >= quorum ? " (reached)" : ""}`,
          `votes      for ${v(votes.forVotes)}, against ${v(votes.againstVotes)}, abstain ${v(votes.abstainVotes)}`,
          ...(etaLine === null ? [] : [`eta        ${etaLine}`]),
        ];
        if (power !== undefined) {
          lines.push(
            `you        ${power.voter}${power.hasVoted ? " (voted)" : ""}`,
            `  votes at the snapshot ${power.atSnapshot === null ? "not yet known (the vote has not started)" : v(power.atSnapshot)}, now ${v(power.now)}`,
            power.delegate === null
              ? `  delegation: none: your ${v(power.balance)} count for no vote; \`ddc gov delegate\` (to yourself) counts them for proposals made after`
              : `  delegated to ${power.delegate === power.voter ? "yourself" : power.delegate}; balance ${v(power.balance)}`,
          );
        }
        lines.push(
          `key        ${value.key ? `cluster ${value.key.cluster}, era ${value.key.era ?? "-"}, ${value.key.kind}` : "none"}`,
          `evidence   ${value.evidenceHash ?? "none"}`,
          "actions:",
          ...calls.flatMap((c, i) => [`  ${i + 1}. ${c.text}`, ...c.warnings.map((w) => `     ! ${w}`)]),
          ...(simulation.length
            ? [
                "simulated from the Timelock now:",
                ...simulation.map((s, i) => `  ${i + 1}. ${s.ok ? "ok" : `REVERTS: ${s.revert}`}`),
              ]
            : []),
        );
        print(ctx, value, lines);
      }),
    );

  gov
    .command("vote <id> <support>")
    .description(
      "vote for, against or abstain (with --reason, on chain); refused without --yes when you have no votes at the snapshot or hold undelegated tokens",
    )
    .option("--reason <text>", "why")
    .action(
      run(async (ctx, raw: string, support: string, o: { reason?: string }) => {
        if (!(support in SUPPORT)) throw new CliError(`support must be for, against or abstain, got "${support}"`);
        const p = await resolveProposal(ctx, raw);
        const signer = await ctx.signer();
        const me = getAddress(await signer.getAddress());
        const [snapshot, clock, vt, delegate, balance] = await Promise.all([
          ctx.governor.proposalSnapshot(p.id),
          ctx.governor.clock(),
          votesToken(ctx),
          ctx.governanceToken.delegates(me),
          ctx.governanceToken.balanceOf(me),
        ]);
        const v = (x: bigint) => formatMoney(x, vt);
        // Before the snapshot, the vote is not open: the Governor says so (its state, in words).
        const weight = snapshot < clock ? await ctx.governor.getVotes(me, snapshot) : undefined;
        const problems: string[] = [];
        if (delegate === ZeroAddress && balance > 0n) {
          problems.push(`${me} holds ${v(balance)} that are not delegated: they count for no vote`);
        }
        if (weight === 0n)
          problems.push(`${me} has 0 votes at this proposal's snapshot: the vote would count for nothing`);
        if (problems.length > 0) {
          const what =
            "run `ddc gov delegate` (to yourself) or `ddc gov delegate <address>`: delegated votes count for proposals made after that";
          if (ctx.options.yes !== true) {
            throw new CliError(`not voting: ${problems.join("; ")}`, `${what}; pass --yes to vote anyway`);
          }
          for (const line of problems) ctx.progress(`warning: ${line} (${what})`);
        }
        const governor = ctx.governor.connect(signer);
        await send(ctx, `vote ${support} on ${shortId(p.id)}`, () =>
          o.reason === undefined || o.reason === ""
            ? governor.castVote(p.id, SUPPORT[support as keyof typeof SUPPORT])
            : governor.castVoteWithReason(p.id, SUPPORT[support as keyof typeof SUPPORT], o.reason),
        );
        const counted = weight ?? (await ctx.governor.getVotes(me, snapshot));
        print(
          ctx,
          { proposalId: p.id, support, weight: counted, ...vt },
          `voted ${support} on ${shortId(p.id)} with ${v(counted)}`,
        );
      }),
    );

  for (const step of ["queue", "execute"] as const) {
    gov
      .command(`${step} <id>`)
      .description(
        step === "queue"
          ? "queue a succeeded proposal in the Timelock, and say when it becomes executable"
          : "execute a queued proposal after the Timelock's delay",
      )
      .action(
        run(async (ctx, raw: string) => {
          const p = await resolveProposal(ctx, raw);
          const governor = ctx.governor.connect(await ctx.signer());
          const args = [p.targets, p.values, p.calldatas, idOf(p.description)] as const;
          await send(ctx, `${step} ${shortId(p.id)}`, () =>
            step === "queue" ? governor.queue(...args) : governor.execute(...args),
          );
          const state = await proposalState(ctx.governor, p.id);
          const eta = await ctx.governor.proposalEta(p.id);
          const when = step === "queue" && eta > 0n ? `: executable from ${formatTime(eta, await ctx.now())}` : "";
          print(
            ctx,
            { proposalId: p.id, state, ...(step === "queue" ? { eta } : {}) },
            `${shortId(p.id)}: ${state}${when}${when ? `, then \`ddc gov execute ${shortId(p.id)}\`` : ""}`,
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
        const [votes, vt] = await Promise.all([ctx.governanceToken.getVotes(to), votesToken(ctx)]);
        print(
          ctx,
          { delegate: to, votes, ...vt },
          `delegated to ${to}, who now has ${formatMoney(votes, vt)} of votes`,
        );
      }),
    );

  const propose = gov
    .command("propose")
    .description("propose any manager action to the Governor, with a description (prints the proposal's id)");
  for (const spec of ACTIONS) {
    const cmd = (spec.options ?? ((c: Command) => c))(propose.command(spec.name).description(spec.description))
      .requiredOption("--description <text>", "why (markdown): what voters read")
      .option("--title <text>", "the proposal's title (default: the action's)");
    cmd.action(
      run(async (ctx, ...rest: unknown[]) => {
        const o = rest.at(-1) as Record<string, string | boolean | undefined>;
        const action: ManagerAction = await spec.build(ctx, rest.slice(0, -1) as string[], o);
        const described = {
          ...action,
          title: typeof o.title === "string" ? o.title : action.title,
          body: String(o.description),
        };
        await carryOut(ctx, described, { propose: true });
      }),
    );
  }
}
