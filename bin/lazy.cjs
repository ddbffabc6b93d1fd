// Deferred packages for `ddc`: the packages only some commands use (protocol-kit and viem under it,
// the bot's and the storage node's HTTP servers, logger, metrics, SQLite, the S3 SDK, undici) are loaded on first use, not when the command
// tree is built: `ddc --help` does not pay about a second for the Safe SDK it never calls.
//
// A deferred `require(name)` returns a stand-in that loads the real package when a property is
// first read. That is all the compiled code does with these packages (TypeScript's CommonJS output
// reads `module.default` or `module.Name` when it calls them), and the stand-in keeps the meaning
// of esModuleInterop: `default` is the package itself when it is not an ES module build.
const Module = require("node:module");

/** The packages deferred (by the exact name the code imports). */
const DEFERRED = new Set([
  "@safe-global/protocol-kit",
  "@safe-global/api-kit",
  "@safe-global/safe-deployments",
  "fastify",
  "@fastify/rate-limit",
  "pino",
  "prom-client",
  "better-sqlite3",
  "node-cron",
  "@aws-sdk/client-s3",
  "@fastify/cors",
  "undici",
]);

/** Installs the deferral for every `require` that follows (idempotent). */
function deferPackages() {
  if (Module._load.deferred === true) return;
  const load = Module._load;
  const deferredLoad = function (request, parent, isMain) {
    if (!DEFERRED.has(request)) return load.apply(this, arguments);
    let real;
    const target = () => (real ??= load.call(this, request, parent, isMain));
    return new Proxy(
      {},
      {
        get(_stub, key) {
          // TypeScript's interop helpers ask `__esModule` on import: answering it loads nothing.
          if (key === "__esModule") return true;
          const mod = target();
          if (key === "default" && !(mod !== null && mod.__esModule)) return mod;
          return Reflect.get(mod, key);
        },
        has: (_stub, key) => Reflect.has(target(), key),
        ownKeys: () => Reflect.ownKeys(target()),
        getOwnPropertyDescriptor(_stub, key) {
          const d = Reflect.getOwnPropertyDescriptor(target(), key);
          return d === undefined ? undefined : { ...d, configurable: true };
        },
      },
    );
  };
  deferredLoad.deferred = true;
  Module._load = deferredLoad;
}

module.exports = { DEFERRED, deferPackages };
