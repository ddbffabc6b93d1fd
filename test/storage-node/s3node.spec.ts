import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { expect } from "chai";
import { ethers } from "hardhat";
import pino from "pino";
import S3rver from "s3rver";
import { parseConfig } from "../../storage-node/src/config";
import { startStorageNode, type RunningNode } from "../../storage-node/src/main";
import { createStorageClient, type DdcStorageClient } from "../../storage-node/client/node";
import { NODE_PARAMS, RENT } from "../helpers/fixtures";
import { singleNodeCluster } from "./singleNode";
import { freePort } from "../helpers/localNode";
import { devKeyOf, tempDir } from "../helpers/temp";

/**
 * A node whose blobs live in an S3-compatible store (`data.blobs.kind: "s3"`), built from its
 * configuration as `ddc node serve` builds it, against s3rver on loopback: the objects go to the
 * S3 bucket, the metadata stays in the data directory, and what the client reads back is intact.
 */
describe("storage node on the S3 backend (s3rver)", function () {
  this.timeout(120_000);
  let s3: S3rver;
  let endpoint: string;
  let node: RunningNode;
  let client: DdcStorageClient;
  const dir = tempDir("s3node");
  const bucket = 2n;

  before(async () => {
    s3 = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: tempDir("s3node-server"),
      configureBuckets: [{ name: "ddc-node" }],
    });
    const addr = await s3.run();
    endpoint = `http://127.0.0.1:${addr.port}`;

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const { f } = await singleNodeCluster(url);
    const env = {
      DDC_NODE_KEY: devKeyOf(f.nodeKey1.address),
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    };
    const config = parseConfig(
      {
        chain: { rpcUrl: "http://127.0.0.1:8545", core: f.coreAddress },
        node: {
          key: { env: "DDC_NODE_KEY" },
          url,
          capacity: "1000",
          rent: RENT.toString(),
          version: NODE_PARAMS.version,
        },
        data: {
          dir: join(dir, "data"),
          blobs: {
            kind: "s3",
            endpoint,
            region: "us-east-1",
            bucket: "ddc-node",
            prefix: "node1/",
            forcePathStyle: true,
          },
        },
        // The Hardhat chain's time runs ahead of the clock (other tests move it): no clock check.
        server: { host: "127.0.0.1", port, clockCheck: false },
        ops: { host: "127.0.0.1", port: 0 },
        replication: { enabled: false },
        log: { level: "silent" },
      },
      join(dir, "node.json"),
      env,
    );
    node = await startStorageNode(config, { provider: ethers.provider, env, logger: pino({ level: "silent" }) });
    const chainId = Number((await ethers.provider.getNetwork()).chainId);
    client = createStorageClient({ provider: ethers.provider, signer: f.owner1, chainId, core: f.coreAddress });
  });

  after(async () => {
    await node?.close();
    await s3?.close();
  });

  it("stores the blob in the S3 bucket under its SHA-256, keeps the metadata on disk, reads back intact", async () => {
    const body = randomBytes(200_000);
    const sha = createHash("sha256").update(body).digest("hex");
    const put = await client.put(bucket, "docs/report.pdf", body, { contentType: "application/pdf" });
    expect(put).to.include({ sha256: sha, size: body.length });

    const s3client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const listed = await s3client.send(new ListObjectsV2Command({ Bucket: "ddc-node", Prefix: "node1/" }));
    const keys = (listed.Contents ?? []).map((o) => o.Key ?? "");
    expect(keys.some((k) => k.endsWith(sha))).to.equal(true, `no blob ${sha} in ${JSON.stringify(keys)}`);
    expect(existsSync(join(dir, "data", "meta.sqlite"))).to.equal(true);
    expect(existsSync(join(dir, "data", "blobs")) ? readdirSync(join(dir, "data", "blobs")) : []).to.deep.equal([]);

    expect(Buffer.from(await client.get(bucket, "docs/report.pdf")).equals(body)).to.equal(true);
    const range = await client.get(bucket, "docs/report.pdf", { range: { start: 65_000, end: 140_000 } });
    expect(Buffer.from(range).equals(body.subarray(65_000, 140_001))).to.equal(true);
  });
});
