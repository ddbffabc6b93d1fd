/**
 * Crash injection for the fault tests: with DDC_BOT_FAILPOINT=<name>, the process kills itself
 * (SIGKILL: no cleanup, no flush) the first time it reaches that point. The points lie between
 * the steps of an action, where a real crash would hurt most:
 *
 * - `era-recorded`: an era's decision is in the store, no action carried out yet;
 * - `action-sent`: a proposal, Safe transaction or operator transaction is out, the store does not know;
 * - `action-recorded`: the store knows, the next action of the era is not carried out yet;
 * - `keeper-sent`: the keeper's queue or execute transaction is mined, the store does not know.
 */
export type Failpoint = "era-recorded" | "action-sent" | "action-recorded" | "keeper-sent";

export function failpoint(name: Failpoint): void {
  if (process.env.DDC_BOT_FAILPOINT === name) process.kill(process.pid, "SIGKILL");
}
