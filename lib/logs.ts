import type { Log, Provider } from "ethers";

/** Messages of RPC nodes that refuse a log query over too many blocks or results. */
const RANGE_LIMIT = /range|limit|too many|exceed|10000|block range|query returned more than/i;

/**
 * `eth_getLogs` over `[fromBlock, toBlock]` in pages of `step` blocks, halving the page when the RPC
 * node says it is too large (live providers cap the range or the result size).
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
      logs.push(...(await provider.getLogs({ ...filter, fromBlock: from, toBlock: to })));
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
