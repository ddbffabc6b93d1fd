import { ethers, network } from "hardhat";
import { DAY, deployCore, deployTestStablecoin } from "../deploy/core";

/**
 * Deploys the core (and, on local networks without DDC_TOKEN, the test stablecoin) and prints the
 * addresses as JSON. Settings come from the environment:
 *   DDC_TOKEN            the payment token's address (required on a live network)
 *   DDC_ADMIN            who receives the role-admin role (default: the deployer)
 *   DDC_FEE_DESTINATION  where network fees go (default: the admin)
 *   DDC_NETWORK_FEE_BPS, DDC_UNLOCK_DELAY, DDC_GRACE_PERIOD  (defaults 500, 7 days, 7 days)
 */
async function main(): Promise<void> {
  const [deployer] = await ethers.getSigners();
  if (deployer === undefined) throw new Error("no deployer account: set DDC_DEPLOYER_KEY for a live network");
  const local = network.name === "hardhat" || network.name === "localhost";
  let token = process.env.DDC_TOKEN;
  if (token === undefined || token === "") {
    if (!local) throw new Error(`DDC_TOKEN must name the payment token on network ${network.name}`);
    token = await (await deployTestStablecoin(deployer)).getAddress();
  }
  if (!ethers.isAddress(token)) throw new Error(`DDC_TOKEN is not an address: ${token}`);
  if ((await ethers.provider.getCode(token)) === "0x") throw new Error(`no contract at DDC_TOKEN ${token}`);
  const admin = process.env.DDC_ADMIN ?? deployer.address;
  const number = (name: string, fallback: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
    return value;
  };
  const parameters = {
    networkFeeBps: number("DDC_NETWORK_FEE_BPS", 500),
    feeDestination: process.env.DDC_FEE_DESTINATION ?? admin,
    unlockDelay: number("DDC_UNLOCK_DELAY", 7 * DAY),
    gracePeriod: number("DDC_GRACE_PERIOD", 7 * DAY),
  };
  const deployment = await deployCore(deployer, { token, admin, parameters });
  const { chainId } = await ethers.provider.getNetwork();
  console.log(
    JSON.stringify(
      {
        chainId: Number(chainId),
        block: await ethers.provider.getBlockNumber(),
        contracts: { PaymentToken: token, ...deployment.addresses },
        parameters: { admin, ...parameters },
      },
      null,
      2,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
