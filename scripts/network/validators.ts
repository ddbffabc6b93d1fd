import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { JsonRpcProvider, Wallet } from "ethers";
import pino, { type Logger } from "pino";
import { ROOT } from "../../lib/root";
import type { EraOutcome } from "../../validator/src/types";

/**
 * The network's validators: one validator service per account, each measuring both clusters and
 * sending its signed reports to the bot's intake. validator/src/service.ts (startValidator) and
 * validator/src/config.ts (parseValidatorConfig) are loaded when the story starts them, so that
 * this module builds before they exist; their absence is said in one clear error.
 */

export interface RunningValidator {
  stop(): Promise<void>;
}

interface ValidatorModules {
  startValidator(
    config: unknown,
    deps: { signer: Wallet; provider: JsonRpcProvider; logger: Logger; onEra: (o: EraOutcome) => void },
  ): Promise<RunningValidator>;
  parseValidatorConfig(raw: unknown, name: string, env: NodeJS.ProcessEnv): unknown;
}

const SERVICE = join(ROOT, "validator", "src", "service.ts");
const CONFIG = join(ROOT, "validator", "src", "config.ts");

/** Whether the validator service is in this checkout. */
export function validatorsAvailable(): boolean {
  return existsSync(SERVICE) && existsSync(CONFIG);
}

function load(): ValidatorModules {
  if (!validatorsAvailable()) {
    throw new Error(
      "the validator service is not in this checkout (validator/src/service.ts and validator/src/config.ts): " +
        "the network needs it to measure the storage nodes",
    );
  }
  // Loaded at run time (see above): the path is computed so that the compiler does not follow it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const service = require(SERVICE.replace(/\.ts$/, "")) as Pick<ValidatorModules, "startValidator">;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require(CONFIG.replace(/\.ts$/, "")) as Pick<ValidatorModules, "parseValidatorConfig">;
  return { startValidator: service.startValidator, parseValidatorConfig: config.parseValidatorConfig };
}

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
  const { startValidator, parseValidatorConfig } = load();
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
        probes: { perEra: s.light === true ? 10 : 20, timeoutMs: 2000 },
        challenges: { perNode: s.light === true ? 15 : 30, timeoutMs: 5000 },
        log: { level: "warn" },
      };
      const config = parseValidatorConfig(raw, `validator ${i + 1}`, {
        ...process.env,
        DDC_VALIDATOR_KEY: key.privateKey,
      });
      const logger = pino({ level: "warn", base: { validator: i + 1 } }, pino.destination(2));
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
