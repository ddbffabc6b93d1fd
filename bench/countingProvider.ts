import {
  JsonRpcApiProvider,
  type JsonRpcApiProviderOptions,
  type JsonRpcError,
  type JsonRpcPayload,
  type JsonRpcResult,
  type Networkish,
} from "ethers";

/** An EIP-1193 provider (Hardhat's in-process `network.provider`, a wallet's…). */
export interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

export interface RpcRequest {
  method: string;
  params: unknown[];
}

/**
 * An ethers provider over an EIP-1193 provider that records every JSON-RPC request that reaches
 * it: each element of a batch is one request, and nothing is answered from a cache in between.
 * Contracts connected to it read the chain exactly as through a `JsonRpcProvider` with the same
 * options.
 */
export class CountingProvider extends JsonRpcApiProvider {
  readonly requests: RpcRequest[] = [];

  constructor(
    private readonly inner: Eip1193,
    network?: Networkish,
    options?: JsonRpcApiProviderOptions,
  ) {
    super(network, options);
  }

  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<(JsonRpcResult | JsonRpcError)[]> {
    const list = Array.isArray(payload) ? payload : [payload];
    return Promise.all(
      list.map(async (p): Promise<JsonRpcResult | JsonRpcError> => {
        const params = Array.isArray(p.params) ? (p.params as unknown[]) : [p.params];
        this.requests.push({ method: p.method, params });
        try {
          return { id: p.id, result: await this.inner.request({ method: p.method, params }) };
        } catch (error: unknown) {
          const e = error as { code?: unknown; message?: unknown; data?: unknown };
          return {
            id: p.id,
            error: {
              code: typeof e.code === "number" ? e.code : -32_000,
              message: typeof e.message === "string" ? e.message : String(error),
              data: e.data,
            },
          };
        }
      }),
    );
  }

  /** Forgets the requests recorded so far. */
  reset(): void {
    this.requests.length = 0;
  }
}
