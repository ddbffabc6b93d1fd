import type { ContractNetworksConfig } from "@safe-global/protocol-kit";

/**
 * Safe 1.5.0, from the audited build artifacts of `@safe-global/safe-smart-account` (no compiler
 * involved): the contracts protocol-kit uses, their ABIs and code, and where a chain has them.
 * deploy/safe.ts deploys them and creates Safes; governance/ and the bot only read them.
 */
export const SAFE_VERSION = "1.5.0";

/** Artifact paths (under the package's build/artifacts/contracts) of the contracts protocol-kit uses. */
const ARTIFACTS = {
  Safe: "Safe.sol/Safe.json",
  SafeL2: "SafeL2.sol/SafeL2.json",
  SafeProxyFactory: "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
  MultiSend: "libraries/MultiSend.sol/MultiSend.json",
  MultiSendCallOnly: "libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
  CompatibilityFallbackHandler: "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
  SignMessageLib: "libraries/SignMessageLib.sol/SignMessageLib.json",
  CreateCall: "libraries/CreateCall.sol/CreateCall.json",
  SimulateTxAccessor: "accessors/SimulateTxAccessor.sol/SimulateTxAccessor.json",
} as const;

export type SafeContractName = keyof typeof ARTIFACTS;
export const SAFE_CONTRACT_NAMES = Object.keys(ARTIFACTS) as SafeContractName[];
export type SafeSingletons = Record<SafeContractName, string>;

export interface SafeArtifact {
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
}

/** The build artifact (ABI, creation and runtime code) of the Safe contract `name`. */
export function safeArtifact(name: SafeContractName): SafeArtifact {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`@safe-global/safe-smart-account/build/artifacts/contracts/${ARTIFACTS[name]}`) as SafeArtifact;
}

/** protocol-kit's `contractNetworks` for a chain whose Safe singletons are at `s`. */
export function contractNetworks(chainId: bigint | number, s: SafeSingletons): ContractNetworksConfig {
  return {
    [chainId.toString()]: {
      safeSingletonAddress: s.Safe,
      safeProxyFactoryAddress: s.SafeProxyFactory,
      multiSendAddress: s.MultiSend,
      multiSendCallOnlyAddress: s.MultiSendCallOnly,
      fallbackHandlerAddress: s.CompatibilityFallbackHandler,
      signMessageLibAddress: s.SignMessageLib,
      createCallAddress: s.CreateCall,
      simulateTxAccessorAddress: s.SimulateTxAccessor,
    },
  };
}
