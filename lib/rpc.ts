import { JsonRpcProvider, Network } from "ethers";
import { DdcError } from "./errors";
import { redactText, redactUrl } from "./redact";

/** The RPC node could not be reached or did not answer as one: the message names it. */
export class RpcUnavailableError extends DdcError {
  override name = "RpcUnavailableError";
}

/**
 * The chain id the JSON-RPC node at `url` answers (`eth_chainId`), or an RpcUnavailableError
 * naming the node (its URL without credentials) when it does not answer within `timeoutMs`.
 */
export async function rpcChainId(url: string, timeoutMs = 10_000): Promise<number> {
  const where = redactUrl(url);
  // Credentials in the URL go as basic authentication (fetch refuses a URL holding them).
  const target = new URL(url);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.username !== "" || target.password !== "") {
    const user = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    headers.authorization = `Basic ${Buffer.from(user).toString("base64")}`;
    target.username = "";
    target.password = "";
  }
  let text: string;
  try {
    const r = await fetch(target, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await r.text();
    if (!r.ok) throw new RpcUnavailableError(`the RPC node at ${where} answered HTTP ${r.status}`);
  } catch (error) {
    if (error instanceof RpcUnavailableError) throw error;
    const e = error as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new RpcUnavailableError(`cannot reach the RPC node at ${where}: ${redactText(why)}`);
  }
  try {
    const id = BigInt((JSON.parse(text) as { result: string }).result);
    if (id <= 0n || id > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("out of range");
    return Number(id);
  } catch {
    throw new RpcUnavailableError(`the RPC node at ${where} did not answer eth_chainId with a chain id`);
  }
}

/**
 * A provider for the node at `url`, its network read once here: a node that is away fails now,
 * named, rather than being retried without end by ethers' network detection. No request cache.
 */
export async function connectRpc(url: string, timeoutMs = 10_000): Promise<JsonRpcProvider> {
  const chainId = await rpcChainId(url, timeoutMs);
  return new JsonRpcProvider(url, Network.from(chainId), { staticNetwork: true, cacheTimeout: -1 });
}
