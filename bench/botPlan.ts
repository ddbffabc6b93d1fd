import { performance } from "node:perf_hooks";
import { ready } from "../manager-bot/src/evidence";
import { planLedgers, planSnapshot, runPlan } from "./botData";

/**
 * The `plan` run alone, in a plain Node process (spawned by bench/bot.ts through ts-node), for its
 * peak resident memory: builds the synthetic snapshot and ledgers, plans the era once, and prints
 * one JSON line `{ ms, decideMs, settleMs, rssBeforeKiB, maxRssKiB }` (`process.resourceUsage().maxRSS`
 * is in KiB). `rssBeforeKiB` is the peak before the plan (Node, ts-node and the inputs).
 */
async function main(): Promise<void> {
  await ready();
  const now = 1_800_000_000n;
  const snapshot = planSnapshot();
  const ledgers = planLedgers(now);
  const rssBeforeKiB = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const run = runPlan(snapshot, ledgers, now);
  const ms = performance.now() - t0;
  if (!run.decision.decided) throw new Error("botPlan: the synthetic era was not decided");
  const maxRssKiB = process.resourceUsage().maxRSS;
  console.log(JSON.stringify({ ms, decideMs: run.decideMs, settleMs: run.settleMs, rssBeforeKiB, maxRssKiB }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
