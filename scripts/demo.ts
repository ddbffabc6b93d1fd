import { runExampleNetwork } from "./exampleNetwork";

/** `npm start`: the seed's example network on the embedded chain, told step by step. */
async function main(): Promise<void> {
  console.log("DDC example network on the in-process Hardhat chain\n");
  const result = await runExampleNetwork((step) => {
    const when = new Date(step.at * 1000).toISOString().replace(".000Z", "Z");
    console.log(`[${when}] ${step.what}`);
    for (const [key, value] of Object.entries(step.figures)) console.log(`    ${key}: ${value}`);
  });
  const accounted = result.pool + result.ledger.balance;
  console.log(
    `\nConservation: the core holds ${result.coreBalance} = pool ${result.pool} + ledger ${result.ledger.balance}` +
      ` (${accounted === result.coreBalance ? "holds" : "BROKEN"})`,
  );
  if (accounted !== result.coreBalance) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
