import type { Log, Provider } from "ethers";
import { READ_RETRY, isTransient, withRetry } from "./retry";

/**
 * Messages of RPC nodes that refuse a log query over too many blocks or results (some send them
 * with the rate limit's code, -32005: the message decides). A rate limit is not one of them.
 */
const RANGE_LIMIT =
  /block range|range (?:is )?too (?:large|wide|big)|too many (?:blocks|results|logs)|query returned more than|response size|limited to \d+|exceeds? (?:the )?(?:max|maximum|limit of)|more than \d+ (?:blocks|results|logs)|10000 (?:blocks|results|logs)/i;

/**
 * `eth_getLogs` over `[fromBlock, toBlock]` in pages of `step` blocks, halving the page when the RPC
 * node says it is too large (live providers cap the range or the result size), and retrying a page
 * that failed for a transient reason (the node away a moment, a rate limit) with backoff.
 */
export async function getLogsPaged(
  provider: Provider,
  filter: { address: string; topics?: (string | string[] | null)[] },
  fromBlock: number,
  toBlock: number,
  options: { step?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<Log[]> {
  const logs: Log[] = [];
  let step = Math.max(1, options.step ?? 10_000);
  let from = fromBlock;
  while (from <= toBlock) {
    const to = Math.min(toBlock, from + step - 1);
    try {
      const page = await withRetry(() => provider.getLogs({ ...filter, fromBlock: from, toBlock: to }), {
        ...READ_RETRY,
        retryable: (error) => !RANGE_LIMIT.test(String((error as Error).message)) && isTransient(error),
      });
      logs.push(...page);
      from = to + 1;
      options.onProgress?.(from - fromBlock, toBlock - fromBlock + 1);
    } catch (error) {
      if (step > 1 && RANGE_LIMIT.test(String((error as Error).message))) {
        step = Math.max(1, Math.floor(step / 2));
        continue;
      }
      throw error;
    }
  }
  return logs;
}
