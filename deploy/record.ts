import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { getAddress, type Provider } from "ethers";
import { z } from "zod";
import type { Ensure } from "./core";

/** `deployments/<network>.json`: what is deployed where, and with which parameters. */
export interface DeploymentRecord {
  chainId: number;
  /** The block the core was deployed in (where indexers start). */
  block: number;
  contracts: Record<string, string>;
  parameters: unknown;
}

const address = z.string().refine((a) => /^0x[0-9a-fA-F]{40}$/.test(a), "not an address");
const recordSchema = z.object({
  chainId: z.number().int().positive(),
  block: z.number().int().nonnegative(),
  contracts: z.record(z.string(), address),
  parameters: z.unknown(),
});

/** Reads a deployment record, or undefined if there is none. A malformed file is an error naming the problem. */
export function readRecord(file: string): DeploymentRecord | undefined {
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data as DeploymentRecord;
}

/**
 * The deployment record of one network while a deployment runs: each step is skipped when its
 * contract is recorded and really has code (a restarted local node has none), and deployed (and
 * written down at once, so an interrupted run resumes) otherwise. A contract whose dependencies
 * were deployed anew in this run is deployed anew too.
 */
export class DeploymentBook {
  readonly deployedNow: string[] = [];
  readonly record: DeploymentRecord;

  constructor(
    private readonly provider: Provider,
    private readonly file: string | undefined,
    chainId: number,
    existing: DeploymentRecord | undefined,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    if (existing !== undefined && existing.chainId !== chainId) {
      throw new Error(
        `${file ?? "the deployment record"} is for chain ${existing.chainId}, but the network is chain ${chainId}: ` +
          "point at the right network or move the file away",
      );
    }
    this.record = existing ?? { chainId, block: 0, contracts: {}, parameters: {} };
  }

  /** The recorded address of `name` if code is there now. */
  async live(name: string): Promise<string | undefined> {
    const known = this.record.contracts[name];
    if (known === undefined) return undefined;
    return (await this.provider.getCode(known)) !== "0x" ? getAddress(known) : undefined;
  }

  readonly ensure: Ensure = async (name, deploy, dependsOn = []) => {
    const renewed = dependsOn.filter((d) => this.deployedNow.includes(d));
    const known = renewed.length === 0 ? await this.live(name) : undefined;
    if (known !== undefined) {
      this.log(`  ${name}: at ${known} (kept)`);
      return known;
    }
    const why =
      renewed.length !== 0
        ? `depends on ${renewed.join(", ")}`
        : this.record.contracts[name] !== undefined
          ? "no code at the recorded address"
          : "new";
    const deployed = getAddress(await deploy());
    this.set(name, deployed);
    this.deployedNow.push(name);
    this.log(`  ${name}: deployed at ${deployed} (${why})`);
    return deployed;
  };

  /**
   * Records `name` at `address`, a contract deployed by others (e.g. the payment token); when that
   * changes what was recorded, what depends on it is deployed anew.
   */
  adopt(name: string, address: string): string {
    const wanted = getAddress(address);
    if (this.record.contracts[name] !== wanted) {
      this.set(name, wanted);
      this.deployedNow.push(name);
      this.log(`  ${name}: ${wanted} (given)`);
    } else {
      this.log(`  ${name}: at ${wanted} (given, kept)`);
    }
    return wanted;
  }

  /** Records `name` at `address`. */
  set(name: string, address: string): void {
    this.record.contracts[name] = getAddress(address);
    this.save();
  }

  save(): void {
    if (this.file === undefined) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.record, null, 2) + "\n");
    renameSync(temporary, this.file);
  }
}
