import type { ReportBody } from "../../manager-bot/src/report";

type NodeResult = ReportBody["nodes"][number];

/**
 * A validator's report of an era: every member reachable and scoring 9,700, except what `override`
 * says of a node (e.g. `{ retrievable: false }` for a failing one), and the buckets measured.
 */
export function reportBody(
  cluster: bigint | number,
  era: number,
  members: readonly (bigint | number)[],
  override: (node: number) => Partial<NodeResult> = () => ({}),
  buckets: ReportBody["buckets"] = [],
): ReportBody {
  return {
    cluster: Number(cluster),
    era,
    nodes: members.map((n) => ({
      node: Number(n),
      availabilityBps: 10_000,
      latencyMs: 20,
      retrievable: true,
      score: 9700,
      ...override(Number(n)),
    })),
    buckets,
  };
}
