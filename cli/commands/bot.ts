import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { loadConfig, type BotConfig } from "../../manager-bot/src/config";
import { botLogger, serviceFromConfig } from "../../manager-bot/src/main";
import { EXIT_CODES, exitCodeOf, type DryRunReport } from "../../manager-bot/src/run";
import { BotStore } from "../../manager-bot/src/store";
import { reportFailure, toJson } from "../output";
import type { GlobalOptions } from "../context";

const clusterArg = z.coerce.number().int().positive();
const hashArg = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const erasArg = z.coerce.number().int().min(1).max(1000);

/** Runs a `bot` subcommand: a bad configuration lists every problem; any failure exits 1. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      reportFailure(error);
    }
  };
}

function parseCluster(raw: string): number {
  const parsed = clusterArg.safeParse(raw);
  if (!parsed.success) throw new Error(`cluster must be a positive integer, got "${raw}"`);
  return parsed.data;
}

function parseHash(raw: string): string {
  const parsed = hashArg.safeParse(raw);
  if (!parsed.success) throw new Error(`an evidence hash is 0x and 64 hex digits, got "${raw}"`);
  return parsed.data.toLowerCase();
}

function printDryRun(report: DryRunReport): void {
  for (const c of report.clusters) {
    console.log(`cluster ${c.cluster}${c.paused !== undefined ? `: paused (${c.paused})` : ""}`);
    for (const s of c.skipped ?? []) console.log(`  era ${s.era}: would be skipped, ${s.reason}`);
    for (const e of c.eras) {
      if (e.decided) {
        console.log(`  era ${e.era}: decided, evidence ${e.evidence}`);
        for (const p of e.planned) console.log(`    ${p.kind} ${JSON.stringify({ ...p, kind: undefined })}`);
      } else {
        console.log(
          `  era ${e.era}: waits, ${e.have} of the ${e.need} reports needed; missing ${e.missing.join(", ")}`,
        );
      }
    }
    for (const a of c.actions) {
      console.log(
        `  ${a.ok ? "ok  " : "FAIL"} ${a.title} (from ${a.from})${a.revert !== undefined ? `: ${a.revert}` : ""}`,
      );
    }
    if (c.eras.length === 0 && c.paused === undefined) console.log("  nothing to decide");
  }
}

/** `ddc bot`: run the manager bot, pause or resume a cluster, see what it holds. */
export function registerBot(program: Command): void {
  const bot = program
    .command("bot")
    .description("the manager bot: run it as a service, pause or resume a cluster, see its state and evidence");

  bot
    .command("run")
    .description("run the bot on its schedule (SIGTERM or SIGINT stop it gracefully)")
    .requiredOption("--config <file>", "the bot's configuration (JSON; see the README)")
    .option(
      "--once",
      `one run, then exit: ${EXIT_CODES.ok} when every closed era due is decided or skipped, ` +
        `${EXIT_CODES.failed} when the run failed, ${EXIT_CODES.undecided} when an era waits for its reports (no quorum yet)`,
    )
    .option("--dry-run", "decide and simulate what a run would do; send and record nothing")
    .addHelpText(
      "after",
      [
        "",
        "Exit codes of --once:",
        `  ${EXIT_CODES.ok}  every closed era due is decided, or recorded as skipped with its reason`,
        `  ${EXIT_CODES.failed}  the run failed (a cluster's work, the reports directory, the balance check), or a bad configuration`,
        `  ${EXIT_CODES.undecided}  the run did not fail, but an era it should decide waits for its reports (no quorum yet)`,
      ].join("\n"),
    )
    .action(
      action(async (o: { config: string; once?: boolean; dryRun?: boolean }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const config = loadConfig(o.config);
        if (o.dryRun === true) {
          // Logs to stderr: stdout is the plan.
          const service = await serviceFromConfig(config, { logger: botLogger(config.logLevel, process.stderr) });
          try {
            const report = await service.dryRun();
            if (globals.json === true) console.log(toJson(report));
            else printDryRun(report);
            if (report.clusters.some((c) => c.actions.some((a) => !a.ok))) process.exitCode = 1;
          } finally {
            service.store.close();
          }
          return;
        }
        const service = await serviceFromConfig(config);
        if (o.once === true) {
          service.store.claim();
          // SIGTERM or SIGINT: the run ends after the cluster it is working on.
          const finish = () => {
            process.stderr.write("stopping after the current cluster\n");
            service.requestStop();
          };
          process.once("SIGTERM", finish);
          process.once("SIGINT", finish);
          const report = await service.run().finally(() => {
            service.store.release();
            service.store.close();
          });
          process.exitCode = exitCodeOf(report);
          return;
        }
        await service.start();
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            process.stderr.write(`${signal}: stopping after the current run\n`);
            void service.stop().then(resolve);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
      }),
    );

  const withStore = (config: BotConfig) => new BotStore(config.store);

  bot
    .command("pause <cluster>")
    .description("pause the bot's work on a cluster (kept in the store; a running bot sees it at its next run)")
    .requiredOption("--config <file>", "the bot's configuration")
    .option("--reason <text>", "why (shown in the logs and by status)", "paused by an operator")
    .action(
      action(async (raw: string, o: { config: string; reason: string }) => {
        const cluster = parseCluster(raw);
        const config = loadConfig(o.config);
        if (!config.clusters.some((c) => c.id === cluster)) {
          throw new Error(`cluster ${cluster} is not in ${o.config}`);
        }
        const store = withStore(config);
        store.pause(cluster, o.reason);
        store.close();
        console.log(`cluster ${cluster} paused: ${o.reason}`);
      }),
    );

  bot
    .command("resume <cluster>")
    .description("resume the bot's work on a paused cluster")
    .requiredOption("--config <file>", "the bot's configuration")
    .action(
      action(async (raw: string, o: { config: string }) => {
        const cluster = parseCluster(raw);
        const store = withStore(loadConfig(o.config));
        const was = store.resume(cluster);
        store.close();
        console.log(was ? `cluster ${cluster} resumed` : `cluster ${cluster} was not paused`);
      }),
    );

  bot
    .command("evidence <hash>")
    .description("write out an evidence document the store keeps, byte for byte (what its hash is of)")
    .requiredOption("--config <file>", "the bot's configuration")
    .option("--out <file>", "write it to this file (default: standard output)")
    .action(
      action(async (raw: string, o: { config: string; out?: string }) => {
        const hash = parseHash(raw);
        const config = loadConfig(o.config);
        const store = withStore(config);
        const json = store.evidence(hash);
        store.close();
        if (json === undefined) throw new Error(`no evidence document ${hash} in the store ${config.store}`);
        if (o.out === undefined) {
          process.stdout.write(json);
          return;
        }
        writeFileSync(o.out, json);
        console.log(`evidence ${hash}: ${Buffer.byteLength(json)} bytes written to ${o.out}`);
      }),
    );

  bot
    .command("status")
    .description(
      "what the store holds: paused clusters, each cluster's recent eras (decided, or skipped and why), open actions, actions by state",
    )
    .requiredOption("--config <file>", "the bot's configuration")
    .option("--eras <n>", "how many recent eras to list per cluster", "10")
    .action(
      action(async (o: { config: string; eras: string }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const eras = erasArg.safeParse(o.eras);
        if (!eras.success) throw new Error(`--eras must be an integer from 1 to 1000, got "${o.eras}"`);
        const config = loadConfig(o.config);
        const store = withStore(config);
        const paused = store.paused();
        const status = {
          clusters: config.clusters.map((c) => {
            const lastEra = store.lastEra(c.id);
            const startEra = store.startEra(c.id);
            return {
              cluster: c.id,
              lastEra,
              // The era the next run decides first (null before the bot's first run there).
              nextEra: lastEra !== null ? lastEra + 1 : startEra,
              paused: c.paused ? "paused in the configuration" : (paused.get(c.id)?.reason ?? null),
              eras: store.recentEras(c.id, eras.data).map((e) => ({
                era: e.era,
                status: e.status,
                evidence: e.evidenceHash,
                reason: e.reason,
                carried: e.carried,
                at: e.at,
              })),
            };
          }),
          open: store.open().map((a) => ({ cluster: a.cluster, era: a.era, kind: a.kind, state: a.state, ref: a.ref })),
          actions: store.countByState(),
        };
        store.close();
        if (globals.json === true) {
          console.log(toJson(status));
          return;
        }
        for (const c of status.clusters) {
          console.log(
            `cluster ${c.cluster}: last era ${c.lastEra ?? "none"}, next era ${c.nextEra ?? "not started"}` +
              `${c.paused !== null ? `, paused (${c.paused})` : ""}`,
          );
          for (const e of c.eras) {
            console.log(
              e.status === "decided"
                ? `  era ${e.era}: decided, evidence ${e.evidence}${e.carried ? "" : " (actions not all carried out)"}`
                : `  era ${e.era}: skipped, ${e.reason}`,
            );
          }
        }
        for (const a of status.open)
          console.log(`open: cluster ${a.cluster} era ${a.era ?? "-"} ${a.kind} ${a.state} ${a.ref ?? ""}`);
        console.log(
          `actions: ${Object.entries(status.actions)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
        );
      }),
    );
}
