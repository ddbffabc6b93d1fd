import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

/**
 * The engine bench's baseline for small objects: Node's plain `http` serving files with
 * `fs.createReadStream`, nothing else (no framework, no auth, no checks). Run as a child process:
 * `node bench/engineStatic.ts <dir> <port>`; prints "listening" once it accepts connections.
 */
const [dir, port] = process.argv.slice(2);
if (dir === undefined || port === undefined) throw new Error("usage: engineStatic <dir> <port>");

createServer((req, res) => {
  const path = normalize(decodeURIComponent((req.url ?? "/").split("?")[0]));
  if (req.method !== "GET" || path.includes("..")) {
    res.writeHead(400).end();
    return;
  }
  const file = join(dir, path);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
  createReadStream(file).pipe(res);
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
