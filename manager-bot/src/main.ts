import { mkdirSync } from "node:fs";
import { JsonRpcProvider, type BaseWallet, Wallet, getAddress, isAddress, type Provider } from "ethers";
import pino, { type Logger } from "pino";
import { loadKey } from "../../lib/keys";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { SafeQueue } from "../../governance/safeStore";
import { openStore } from "../../governance/safeTxService";
import { DDCGovernor__factory, DDCLens__factory, IDDC__factory } from "../../typechain-types";
import { coreChainView } from "./chain";
import type { BotConfig, ClusterConfig } from "./config";
import {
  GovernorExecutor,
  OperatorExecutor,
  SafeExecutor,
  type ExecutorOptions,
  type ForeignAction,
  type Target,
} from "./executors";
import { ReportIntake } from "./intake";
import { BotMetrics } from "./metrics";
import { BotRunner } from "./run";
import { BotService } from "./service";
import { BotStore } from "./store";
import { ManagedSigner, type TxEvent } from "./tx";

/**
 * The bot's composition root: the one place that builds its parts from the configuration and
 * wires them (the signer and its metrics, the chain view, the intake, each cluster's executors,
 * the runner, the service). Nothing else constructs them; tests and the demo come through here.
 */

export interface ServiceParts {
  config: BotConfig;
  provider: Provider;
  /** The bot's key, held in this process (it signs transactions and Safe transactions). */
  wallet: BaseWallet;
  record: DeploymentRecord;
  store: BotStore;
  logger: Logger;
  metrics?: BotMetrics;
  /** The chain's clock (the local demo moves it; a live chain's is the latest block's). */
  now?: () => Promise<bigint>;
}

/** The service and everything it runs with, wired. */
export function composeService(parts: ServiceParts): BotService {
  const { config, provider, wallet, record, store, logger } = parts;
  const metrics = parts.metrics ?? new BotMetrics();
  const signer = new ManagedSigner(wallet, provider, { ...config.tx, events: txEventsTo(metrics, logger) });
  const need = (name: string) => {
    const a = record.contracts[name];
    if (a === undefined) throw new Error(`the deployment record has no ${name}`);
    return a;
  };
  const ddc = IDDC__factory.connect(need("DDCCore"), provider);
  const lens =
    record.contracts.DDCLens === undefined ? undefined : DDCLens__factory.connect(record.contracts.DDCLens, provider);
  const chain = coreChainView(ddc, provider, record.chainId, { fromBlock: config.fromBlock });
  const intake = new ReportIntake(chain, store, (e) => {
    if (e.verdict === "accepted") metrics.reportsAccepted.inc();
    else metrics.reportsRejected.inc({ reason: e.reason });
    logger.info({ report: e }, e.verdict === "accepted" ? "report accepted" : `report rejected: ${e.reason}`);
  });
  const foreign: ForeignAction[] = [];
  const executors: ExecutorOptions = {
    bot: signer,
    replicas: config.replicas,
    fromBlock: config.fromBlock,
    onForeign: (found) => foreign.push(found),
  };
  let service: BotService | undefined = undefined;
  const runner = new BotRunner({
    config,
    provider,
    store,
    logger,
    metrics,
    signer,
    ddc,
    lens,
    chain,
    intake,
    targets: targetsFor(record, provider, executors),
    foreign,
    now: () => parts.now?.() ?? chain.now(),
    stopping: () => service?.isStopping ?? false,
  });
  service = new BotService({ config, store, logger, metrics, signer, intake, chain, runner });
  return service;
}

/** The signer's events as metrics and log lines. */
function txEventsTo(metrics: BotMetrics, logger: Logger): (e: TxEvent) => void {
  return (e) => {
    metrics.transactions.inc({ event: e.type });
    if (e.type === "rpc-error") metrics.rpcErrors.inc({ kind: "transient" });
    const fields = { tx: { ...e, maxFeePerGas: e.maxFeePerGas?.toString() } };
    if (e.type === "replaced" || e.type === "dropped" || e.type === "rpc-error")
      logger.warn(fields, `transaction ${e.type}`);
    else logger.debug(fields, `transaction ${e.type}`);
  };
}

/** Each cluster's executors, built once: its manager's (Governor, Safe, or the bot's own key) and the routine one. */
function targetsFor(
  record: DeploymentRecord,
  provider: Provider,
  options: ExecutorOptions,
): (cl: ClusterConfig) => { structural: Target; routine: Target } {
  const built = new Map<number, { structural: Target; routine: Target }>();
  return (cl) => {
    const known = built.get(cl.id);
    if (known !== undefined) return known;
    let structural: Target;
    if (cl.manager.kind === "key") {
      // The bot's key is the manager (checked against the chain at the cluster's first run): it
      // sends every action itself, replacements too.
      structural = new OperatorExecutor(options);
    } else if (cl.manager.kind === "governor") {
      structural = new GovernorExecutor(DDCGovernor__factory.connect(record.contracts.DDCGovernor, provider), options);
    } else {
      const where = cl.manager.store;
      const sigStore = openStore(where, record.chainId, process.env.DDC_SAFE_API_KEY);
      const safe = safeAddress(cl.manager.safe, record);
      structural = new SafeExecutor(
        new SafeQueue(provider, record.chainId, safe, sigStore),
        record.chainId,
        record.contracts.MultiSendCallOnly,
        options,
      );
    }
    const routine: Target =
      cl.routine === "operator" && cl.manager.kind !== "key" ? new OperatorExecutor(options) : structural;
    const t = { structural, routine };
    built.set(cl.id, t);
    return t;
  };
}

/** A Safe named by address, or by its name in the deployment record. */
function safeAddress(safe: string, record: DeploymentRecord): string {
  if (isAddress(safe)) return getAddress(safe);
  const known = record.contracts[safe];
  if (known === undefined) throw new Error(`the deployment record has no contract named ${safe} (a Safe)`);
  return getAddress(known);
}

/** The bot's key: from the encrypted keystore (password in the environment) or the environment. */
export async function loadBotKey(config: BotConfig, env: NodeJS.ProcessEnv = process.env): Promise<Wallet> {
  return loadKey(config.key, env);
}

/** A JSON logger with the service's name; secrets are redacted wherever they would appear. */
export function botLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "ddc-bot" },
      redact: {
        paths: ["privateKey", "*.privateKey", "botKey", "*.botKey", "password", "*.password"],
        censor: "[secret]",
      },
    },
    destination,
  );
}

/** Everything the service needs, from a loaded configuration. */
export async function serviceFromConfig(
  config: BotConfig,
  options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {},
): Promise<BotService> {
  const logger = options.logger ?? botLogger(config.logLevel);
  const record = readRecord(config.deployment);
  if (record === undefined) throw new Error(`no deployment record at ${config.deployment}`);
  const provider = new JsonRpcProvider(config.rpc, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
  const wallet = await loadBotKey(config, options.env);
  if (config.intake.directory !== null) mkdirSync(config.intake.directory, { recursive: true });
  const store = new BotStore(config.store);
  return composeService({ config, provider, wallet, record, store, logger });
}
