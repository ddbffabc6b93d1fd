import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { ACTION_STATES, type BotStore } from "./store";

/**
 * The bot's Prometheus metrics (prom-client), on their own registry so that two bots in one
 * process (the tests) do not mix. Names follow Prometheus conventions: `_total` for counters,
 * base units (seconds, wei).
 */
export class BotMetrics {
  readonly registry = new Registry();
  readonly erasDecided: Counter<"cluster">;
  readonly erasSkipped: Counter<"cluster">;
  readonly eraWaiting: Gauge<"cluster">;
  readonly actions: Gauge<"state">;
  readonly reportsAccepted: Counter;
  readonly reportsRejected: Counter<"reason">;
  readonly rpcErrors: Counter<"kind">;
  readonly runs: Counter<"outcome">;
  readonly lastSuccess: Gauge;
  readonly balance: Gauge;
  readonly alerts: Counter<"alert">;
  readonly transactions: Counter<"event">;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.erasDecided = new Counter({
      name: "ddc_bot_eras_decided_total",
      help: "Eras decided (evidence recorded and actions carried out), by cluster",
      labelNames: ["cluster"],
      registers,
    });
    this.erasSkipped = new Counter({
      name: "ddc_bot_eras_skipped_total",
      help: "Eras recorded as skipped (by policy, or after waiting for a quorum), by cluster",
      labelNames: ["cluster"],
      registers,
    });
    this.eraWaiting = new Gauge({
      name: "ddc_bot_era_waiting",
      help: "The era a cluster waits for reports for (-1: none)",
      labelNames: ["cluster"],
      registers,
    });
    this.actions = new Gauge({
      name: "ddc_bot_actions",
      help: "Actions in the store, by state",
      labelNames: ["state"],
      registers,
    });
    this.reportsAccepted = new Counter({
      name: "ddc_bot_reports_accepted_total",
      help: "Validator reports accepted",
      registers,
    });
    this.reportsRejected = new Counter({
      name: "ddc_bot_reports_rejected_total",
      help: "Validator reports rejected, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.rpcErrors = new Counter({
      name: "ddc_bot_rpc_errors_total",
      help: "RPC errors: transient (retried) or not",
      labelNames: ["kind"],
      registers,
    });
    this.runs = new Counter({
      name: "ddc_bot_runs_total",
      help: "Scheduled runs, by outcome (ok, failed, skipped-overlap)",
      labelNames: ["outcome"],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: "ddc_bot_last_success_timestamp_seconds",
      help: "When the last run ended without an error (Unix time)",
      registers,
    });
    this.balance = new Gauge({
      name: "ddc_bot_balance_wei",
      help: "The balance of the bot's key, in wei",
      registers,
    });
    this.alerts = new Counter({
      name: "ddc_bot_alerts_total",
      help: "Alerts raised, by kind (low-balance, action-stuck, action-failed, era-undecided, run-failed)",
      labelNames: ["alert"],
      registers,
    });
    this.transactions = new Counter({
      name: "ddc_bot_transactions_total",
      help: "Transaction events of the bot's key (sent, replaced, dropped, mined, retry, rpc-error)",
      labelNames: ["event"],
      registers,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry, prefix: "ddc_bot_" });
  }

  /** The action gauge from the store's counts. */
  syncActions(store: BotStore): void {
    const counts = store.countByState();
    for (const state of ACTION_STATES) this.actions.set({ state }, counts[state]);
  }
}
