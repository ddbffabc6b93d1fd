import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { JsonRpcProvider, Wallet } from "ethers";
import pino from "pino";
import type { EraOutcome } from "../../validator/src/types";
import { parseValidatorConfig } from "../../validator/src/config";
import { startValidator, type RunningValidator } from "../../validator/src/service";

export type { RunningValidator };

/**
 * The network's validators: one validator service per account (validator/src/service.ts), each
 * measuring both clusters and sending its signed reports to the bot's intake.
 */

export interface ValidatorSetUp {
  rpcUrl: string;
  core: string;
  clusters: number[];
  /** The bot's report intake (http://127.0.0.1:port). */
  botUrl: string;
  /** Each validator's data directory goes under it. */
  dir: string;
  provider: JsonRpcProvider;
  onEra: (validator: number, outcome: EraOutcome) => void;
  /** Fewer probes and challenges (the test's shorter run). */
  light?: boolean;
}

/** Starts one validator per key, each with its own configuration and data directory. */
export async function startValidators(keys: Wallet[], s: ValidatorSetUp): Promise<RunningValidator[]> {
  const running: RunningValidator[] = [];
  try {
    for (const [i, key] of keys.entries()) {
      const dataDir = join(s.dir, `validator-${i + 1}`);
      mkdirSync(dataDir, { recursive: true });
      const raw = {
        chain: { rpcUrl: s.rpcUrl, core: s.core },
        key: { env: "DDC_VALIDATOR_KEY" },
        clusters: s.clusters,
        bots: [{ url: s.botUrl }],
        dataDir,
        probes: { perEra: 20, timeoutMs: 2000 },
        challenges: { perNode: s.light === true ? 15 : 30, timeoutMs: 5000 },
        log: { level: "warn" },
      };
      const config = parseValidatorConfig(raw, `validator ${i + 1}`, {
        ...process.env,
        DDC_VALIDATOR_KEY: key.privateKey,
      });
      // Its log goes to a file beside its reports: the terminal shows what it measured (onEra).
      const logger = pino(
        { level: "info", base: { validator: i + 1 } },
        pino.destination({ dest: join(dataDir, "validator.log"), sync: true }),
      );
      running.push(
        await startValidator(config, {
          signer: key.connect(s.provider),
          provider: s.provider,
          logger,
          onEra: (o) => s.onEra(i, o),
        }),
      );
    }
  } catch (error) {
    for (const v of running) await v.stop().catch(() => undefined);
    throw error;
  }
  return running;
}
