// The local chain for tests lives in lib/ (scripts/network starts it too).
export { freePort, startNode, type LocalNode, type LocalNodeOptions } from "../../lib/localChain";
