import { runNetwork, Teardown } from "./story";

/**
 * `npm start`: the DDC network on loopback (scripts/network/story.ts). Every process it starts
 * (anvil, the storage nodes) is stopped when it ends, fails, or is interrupted (Ctrl-C, SIGTERM).
 */
async function main(): Promise<void> {
  const teardown = new Teardown();
  let interrupted = false;
  const stop = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the network (the storage nodes, the chain) …\n`);
    void teardown.run().then(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // The last resort: whatever is still running when this process exits is killed.
  process.once("exit", () => teardown.killNow());
  try {
    const summary = await runNetwork((line) => console.log(line), teardown, {
      keep: process.env.DDC_NETWORK_KEEP === "1",
    });
    const intact = summary.objects.intact === summary.objects.written;
    if (!summary.conservation.holds || summary.problems.length > 0 || !intact) process.exitCode = 1;
  } catch (error) {
    if (!interrupted) {
      console.error(`\nnetwork: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  } finally {
    if (!interrupted) await teardown.run();
  }
}

// Runs only as the entry point (`npm start`).
if (require.main === module) void main();
