import type { IDDC } from "../../typechain-types";
import type { NodeConfig } from "./config";

/** One registered field that differs from the configuration. */
export interface Difference {
  field: "id" | "url" | "engine" | "version" | "capacity" | "rent";
  chain: string;
  config: string;
}

export type Registration =
  { registered: false } | { registered: true; id: number; provider: string; differences: Difference[] };

/**
 * The node as the core knows it, found by its signing key, compared with the configuration. The
 * key itself always matches (it is how the node is found); `id` differs when the configuration
 * names another node; `url` when the configured URL is not among the registered ones.
 */
export async function checkRegistration(ddc: IDDC, signingKey: string, config: NodeConfig): Promise<Registration> {
  const id = Number(await ddc.nodeByKey(signingKey));
  if (id === 0) return { registered: false };
  const n = await ddc.getNode(id);
  const differences: Difference[] = [];
  const differ = (field: Difference["field"], chain: string, wanted: string) => {
    if (chain !== wanted) differences.push({ field, chain, config: wanted });
  };
  if (config.node.id !== undefined) differ("id", String(id), String(config.node.id));
  if (!n.urls.includes(config.node.url))
    differences.push({ field: "url", chain: n.urls.join(" "), config: config.node.url });
  differ("engine", n.engine, config.node.engine);
  differ("version", n.version, config.node.version);
  differ("capacity", n.capacity.toString(), config.node.capacity.toString());
  differ("rent", n.rent.toString(), config.node.rent.toString());
  return { registered: true, id, provider: n.provider, differences };
}

/** Differences that stop `serve`: another node's id, or a URL clients would not find. */
export const BLOCKING: readonly Difference["field"][] = ["id", "url"];

/** A line per difference: `url: registered "…", configured "…"`. */
export function describeDifferences(ds: Difference[]): string[] {
  return ds.map((d) => `${d.field}: registered "${d.chain}", configured "${d.config}"`);
}

/** The node's registration parameters from the configuration (for `nodeCreate`). */
export function registrationParams(config: NodeConfig) {
  return {
    capacity: config.node.capacity,
    rent: config.node.rent,
    params: {
      engine: config.node.engine,
      version: config.node.version,
      urls: [config.node.url],
      metadata: config.node.metadata,
    },
  };
}
