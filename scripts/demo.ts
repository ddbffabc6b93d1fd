import { runBotDemo } from "../test/fixtures/scriptedDemo/botDemo";

/** `npm start`: the manager bot runs a DAO cluster and a Safe cluster on the embedded chain, era by era. */
async function main(): Promise<void> {
  const summary = await runBotDemo((line) => console.log(line));
  if (!summary.conservation.holds || summary.problems.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
