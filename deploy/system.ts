import { ContractFactory, ZeroAddress, getAddress, type Signer } from "ethers";
import {
  DDCGovernanceToken__factory,
  DDCGovernor__factory,
  TestStablecoin__factory,
  TimelockController__factory,
} from "../typechain-types";
import type { DDCCore, DDCGovernanceToken, DDCGovernor, IDDC, TimelockController } from "../typechain-types";
import { deployCore, deployed } from "./core";
import type { DeploymentBook } from "./record";
import type { NetworkParameters } from "./parameters";
import { SAFE_CONTRACT_NAMES, canonicalSafeContract, createSafe, safeArtifact, type SafeSingletons } from "./safe";

/** Everything the system deploys, by the names used in `deployments/<network>.json`. */
export interface SystemDeployment {
  ddc: IDDC;
  core: DDCCore;
  governanceToken: DDCGovernanceToken;
  timelock: TimelockController;
  governor: DDCGovernor;
  /** The Safe that may cancel proposals and pause the core. */
  guardianSafe: string;
  paymentToken: string;
  safe: SafeSingletons;
  contracts: Record<string, string>;
}

/** Addresses below 2^16 are placeholders (and precompiles), never a real party. */
function checkReal(what: string, address: string): void {
  if (BigInt(address) < 0x10000n) {
    throw new Error(`${what} is ${address}, a placeholder: set a real address in the network's parameters file`);
  }
}

/**
 * Deploys (or completes) the whole system with `signer`, each step through the deployment record
 * `book` (which skips what is already on chain), then wires the roles, each step only if not done yet:
 * - the Timelock's only proposer and canceller is the Governor, anyone executes, and the deployer
 *   renounces its admin role;
 * - the core's parameters role and role-admin role go to the Timelock, its pauser role to the
 *   guardian Safe, and the deployer renounces the role-admin role.
 * After it, the deployer holds no role anywhere.
 */
export async function deploySystem(
  signer: Signer,
  params: NetworkParameters,
  book: DeploymentBook,
  options: { local: boolean; log?: (line: string) => void },
): Promise<SystemDeployment> {
  const log = options.log ?? (() => undefined);
  const ensure = book.ensure;
  const provider = signer.provider;
  if (provider === null) throw new Error("deploySystem: the signer has no provider");
  const deployer = await signer.getAddress();
  for (const owner of params.guardian.owners) checkReal("a guardian owner", owner);

  log("payment token");
  let paymentToken: string;
  if (params.paymentToken === null) {
    if (!options.local) throw new Error("paymentToken is null: a live network needs the address of an existing token");
    paymentToken = await ensure(
      "PaymentToken",
      async () => (await deployed(new TestStablecoin__factory(signer).deploy(deployer))).address,
    );
  } else {
    const given = getAddress(params.paymentToken);
    if ((await provider.getCode(given)) === "0x") {
      throw new Error(`paymentToken ${given} has no code on this chain: set the real token's address`);
    }
    paymentToken = book.adopt("PaymentToken", given);
  }

  log("Safe 1.5.0 singletons");
  const safe = {} as SafeSingletons;
  for (const name of SAFE_CONTRACT_NAMES) {
    const canonical = await canonicalSafeContract(name, provider);
    safe[name] =
      canonical !== undefined
        ? book.adopt(name, canonical)
        : await ensure(name, async () => {
            const { abi, bytecode } = safeArtifact(name);
            return (await deployed(new ContractFactory(abi as never[], bytecode, signer).deploy())).address;
          });
  }

  log("governance");
  const g = params.governance;
  const holder = g.token.holder === "deployer" ? deployer : getAddress(g.token.holder);
  const tokenAddress = await ensure(
    "DDCGovernanceToken",
    async () =>
      (
        await deployed(
          new DDCGovernanceToken__factory(signer).deploy(g.token.name, g.token.symbol, holder, BigInt(g.token.supply)),
        )
      ).address,
  );
  const timelockAddress = await ensure(
    "TimelockController",
    async () =>
      (await deployed(new TimelockController__factory(signer).deploy(g.timelockDelay, [], [ZeroAddress], deployer)))
        .address,
  );
  const guardianSafe = await ensure(
    "GuardianSafe",
    () => createSafe(signer, safe, params.guardian.owners, params.guardian.threshold),
    ["Safe", "SafeProxyFactory", "CompatibilityFallbackHandler"],
  );
  const governorAddress = await ensure(
    "DDCGovernor",
    async () =>
      (
        await deployed(
          new DDCGovernor__factory(signer).deploy(tokenAddress, timelockAddress, {
            votingDelay: g.votingDelay,
            votingPeriod: g.votingPeriod,
            proposalThreshold: BigInt(g.proposalThreshold),
            quorumPercent: g.quorumPercent,
            proposalGuardian: guardianSafe,
          }),
        )
      ).address,
    ["DDCGovernanceToken", "TimelockController", "GuardianSafe"],
  );

  log("core");
  const feeDestination = params.core.feeDestination === "timelock" ? timelockAddress : params.core.feeDestination;
  const core = await deployCore(
    signer,
    { token: paymentToken, admin: deployer, parameters: { ...params.core, feeDestination } },
    ensure,
  );

  log("roles");
  const timelock = TimelockController__factory.connect(timelockAddress, signer);
  await wireTimelock(timelock, governorAddress, deployer, log);
  await wireCore(core.core, { timelock: timelockAddress, pauser: guardianSafe, deployer }, log);

  return {
    ddc: core.ddc,
    core: core.core,
    governanceToken: DDCGovernanceToken__factory.connect(tokenAddress, signer),
    timelock,
    governor: DDCGovernor__factory.connect(governorAddress, signer),
    guardianSafe,
    paymentToken,
    safe,
    contracts: {
      ...safe,
      PaymentToken: paymentToken,
      DDCGovernanceToken: tokenAddress,
      TimelockController: timelockAddress,
      GuardianSafe: guardianSafe,
      DDCGovernor: governorAddress,
      ...core.addresses,
    },
  };
}

async function wireTimelock(
  timelock: TimelockController,
  governor: string,
  deployer: string,
  log: (line: string) => void,
): Promise<void> {
  const [proposer, canceller, admin] = await Promise.all([
    timelock.PROPOSER_ROLE(),
    timelock.CANCELLER_ROLE(),
    timelock.DEFAULT_ADMIN_ROLE(),
  ]);
  const deployerIsAdmin = await timelock.hasRole(admin, deployer);
  for (const [name, role] of [
    ["proposer", proposer],
    ["canceller", canceller],
  ] as const) {
    if (await timelock.hasRole(role, governor)) continue;
    if (!deployerIsAdmin) {
      throw new Error(
        `the Timelock at ${await timelock.getAddress()} has no admin left to make the Governor ${governor} its ${name}: ` +
          "remove TimelockController from the deployment record to deploy a new one",
      );
    }
    await (await timelock.grantRole(role, governor)).wait();
    log(`  Timelock: ${name} role to the Governor`);
  }
  if (deployerIsAdmin) {
    await (await timelock.renounceRole(admin, deployer)).wait();
    log("  Timelock: the deployer renounced its admin role");
  }
}

async function wireCore(
  core: DDCCore,
  to: { timelock: string; pauser: string; deployer: string },
  log: (line: string) => void,
): Promise<void> {
  const [parameters, pauser, admin] = await Promise.all([
    core.PARAMETERS_ROLE(),
    core.PAUSER_ROLE(),
    core.DEFAULT_ADMIN_ROLE(),
  ]);
  const deployerIsAdmin = await core.hasRole(admin, to.deployer);
  const grants: [string, string, string][] = [
    ["parameters", parameters, to.timelock],
    ["pauser", pauser, to.pauser],
    ["role-admin", admin, to.timelock],
  ];
  for (const [name, role, account] of grants) {
    if (await core.hasRole(role, account)) continue;
    if (!deployerIsAdmin) {
      throw new Error(`the core has no admin left to grant its ${name} role to ${account}: redeploy the core`);
    }
    await (await core.grantRole(role, account)).wait();
    log(`  core: ${name} role to ${account}`);
  }
  if (deployerIsAdmin) {
    await (await core.renounceRole(admin, to.deployer)).wait();
    log("  core: the deployer renounced its role-admin role");
  }
}
