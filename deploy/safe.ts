import {
  Contract,
  ContractFactory,
  Interface,
  ZeroAddress,
  getAddress,
  getCreate2Address,
  keccak256,
  solidityPacked,
  type Provider,
  type Signer,
} from "ethers";
import {
  SAFE_CONTRACT_NAMES,
  SAFE_VERSION,
  safeArtifact,
  type SafeContractName,
  type SafeSingletons,
} from "../lib/safeArtifacts";

/**
 * Safe 1.5.0 on a chain: the singletons a chain needs before Safes can be created (chains with the
 * canonical deployment already have them; a local chain gets its own), and Safe creation itself.
 * The artifacts and protocol-kit's addresses live in lib/safeArtifacts.ts.
 */
export {
  SAFE_CONTRACT_NAMES,
  SAFE_VERSION,
  contractNetworks,
  safeArtifact,
  type SafeArtifact,
  type SafeContractName,
  type SafeSingletons,
} from "../lib/safeArtifacts";

type DeploymentGetter = (filter: {
  version: string;
}) => { deployments?: Record<string, { address: string; codeHash: string }> } | undefined;

/** Where Safe's canonical deployment (safe-deployments) puts each contract. */
function canonicalGetter(name: SafeContractName): DeploymentGetter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const d = require("@safe-global/safe-deployments") as Record<string, DeploymentGetter>;
  const getter = {
    Safe: d.getSafeSingletonDeployment,
    SafeL2: d.getSafeL2SingletonDeployment,
    SafeProxyFactory: d.getProxyFactoryDeployment,
    MultiSend: d.getMultiSendDeployment,
    MultiSendCallOnly: d.getMultiSendCallOnlyDeployment,
    CompatibilityFallbackHandler: d.getCompatibilityFallbackHandlerDeployment,
    SignMessageLib: d.getSignMessageLibDeployment,
    CreateCall: d.getCreateCallDeployment,
    SimulateTxAccessor: d.getSimulateTxAccessorDeployment,
  }[name];
  return getter;
}

/**
 * The canonical Safe 1.5.0 deployment of `name` on the chain behind `provider`, if the code there
 * is the canonical code (checked by its hash); undefined on chains without it (local ones).
 */
export async function canonicalSafeContract(name: SafeContractName, provider: Provider): Promise<string | undefined> {
  const canonical = canonicalGetter(name)({ version: SAFE_VERSION })?.deployments?.canonical;
  if (canonical === undefined) return undefined;
  const code = await provider.getCode(canonical.address);
  return code !== "0x" && keccak256(code) === canonical.codeHash ? getAddress(canonical.address) : undefined;
}

/** Whether there is code at `address` (a restarted local node has none where a file says there was). */
export async function hasCode(provider: Provider, address: string | undefined): Promise<boolean> {
  if (address === undefined) return false;
  return (await provider.getCode(address)) !== "0x";
}

/**
 * The Safe singletons at `known` where code is really there, the others deployed by `signer`.
 * `onDeploy` hears of each deployment (name, address).
 */
export async function ensureSafeSingletons(
  signer: Signer,
  known: Partial<SafeSingletons> = {},
  onDeploy: (name: SafeContractName, address: string) => void = () => undefined,
): Promise<SafeSingletons> {
  const provider = signer.provider;
  if (provider === null) throw new Error("ensureSafeSingletons: the signer has no provider");
  const out: Partial<SafeSingletons> = {};
  for (const name of SAFE_CONTRACT_NAMES) {
    if (await hasCode(provider, known[name])) {
      out[name] = getAddress(known[name] as string);
      continue;
    }
    const { abi, bytecode } = safeArtifact(name);
    const contract = await new ContractFactory(abi as never[], bytecode, signer).deploy();
    await contract.waitForDeployment();
    out[name] = await contract.getAddress();
    onDeploy(name, out[name]);
  }
  return out as SafeSingletons;
}

/**
 * Creates a Safe (a proxy of the singleton, set up with `owners` and `threshold` and the
 * compatibility fallback handler) through the proxy factory. The address depends on the setup and
 * `saltNonce`, so the same call on the same chain always means the same Safe.
 */
export async function createSafe(
  signer: Signer,
  s: SafeSingletons,
  owners: string[],
  threshold: number,
  saltNonce = 0n,
): Promise<string> {
  if (owners.length === 0) throw new Error("createSafe: a Safe needs at least one owner");
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > owners.length) {
    throw new Error(`createSafe: threshold ${threshold} must be between 1 and the ${owners.length} owners`);
  }
  const safe = new Interface(safeArtifact("Safe").abi as never[]);
  const initializer = safe.encodeFunctionData("setup", [
    owners.map((o) => getAddress(o)),
    threshold,
    ZeroAddress,
    "0x",
    s.CompatibilityFallbackHandler,
    ZeroAddress,
    0,
    ZeroAddress,
  ]);
  const factory = new Contract(s.SafeProxyFactory, safeArtifact("SafeProxyFactory").abi as never[], signer);
  // The factory's CREATE2: salt = keccak256(keccak256(initializer) ‖ saltNonce), init code =
  // the proxy's creation code ‖ the singleton as a word.
  const salt = keccak256(solidityPacked(["bytes32", "uint256"], [keccak256(initializer), saltNonce]));
  const initCode = solidityPacked(["bytes", "uint256"], [(await factory.proxyCreationCode()) as string, s.Safe]);
  const predicted = getCreate2Address(s.SafeProxyFactory, salt, keccak256(initCode));
  const provider = signer.provider;
  if (provider !== null && (await hasCode(provider, predicted))) return predicted;
  const tx = await factory.createProxyWithNonce(s.Safe, initializer, saltNonce);
  await tx.wait();
  if (provider !== null && !(await hasCode(provider, predicted))) {
    throw new Error(`createSafe: no Safe at the predicted address ${predicted} after creation`);
  }
  return predicted;
}

/** The owners and threshold of the Safe at `address`. */
export async function safeConfig(
  provider: Provider,
  address: string,
): Promise<{ owners: string[]; threshold: number }> {
  const safe = new Contract(address, safeArtifact("Safe").abi as never[], provider);
  const [owners, threshold] = await Promise.all([safe.getOwners(), safe.getThreshold()]);
  return { owners: (owners as string[]).map((o) => getAddress(o)), threshold: Number(threshold) };
}
