import { runExampleNetwork } from "./exampleNetwork";

/** `npm run example`: the seed's example network on the embedded chain, told step by step. */
async function main(): Promise<void> {
  console.log("DDC example network on the in-process Hardhat chain\n");
  const result = await runExampleNetwork((step) => {
    const when = new Date(step.at * 1000).toISOString().replace(".000Z", "Z");
    console.log(`[${when}] ${step.what}`);
    for (const [key, value] of Object.entries(step.figures)) console.log(`    ${key}: ${value}`);
  });
  const { balances, owed } = result.revenue;
  const accounted = owed.ledger + owed.pool + owed.reserve + owed.unclaimed + owed.feeBalances;
  // Rounding leaves less than one token unit per membership sync and two per distribution in the
  // core, held for no one (four nodes: at most two syncs per node and distribution here).
  const dust = balances.core - accounted;
  const holds = dust >= 0n && dust <= BigInt(result.revenue.distributions.length * 4);
  console.log(
    `\nConservation: the core holds ${balances.core} = ledger ${owed.ledger} + pool ${owed.pool}` +
      ` + reserve ${owed.reserve} + unclaimed revenue ${owed.unclaimed} + fee balances ${owed.feeBalances}` +
      ` + rounding dust ${dust} (${holds ? "holds" : "BROKEN"})`,
  );
  if (!holds) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
