import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ethers, network } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { JsonRpcProvider, type Signer } from "ethers";
import { GIB, exampleFixture } from "../../helpers/fixtures";
import {
  ALL_OPS,
  EMPTY_SHA256,
  HEADER,
  MAX_REQUEST_TTL_S,
  MAX_SESSION_TOKEN_CHARS,
  MAX_SESSION_TTL_S,
  Op,
  canonicalRequest,
  storageDomain,
  type SessionToken,
} from "../../../storage-node/src/protocol";
import {
  decodeSessionToken,
  encodeSessionToken,
  fromBase64url,
  newSessionKey,
  signAppSession,
  signNodeSession,
  signRequest,
  signValidatorSession,
  type SessionKeyPair,
} from "../../../storage-node/src/auth/sign";
import {
  AuthError,
  NodeError,
  RequestAuthenticator,
  recoverSession,
  type Principal,
} from "../../../storage-node/src/auth/verify";
import {
  BucketRole,
  BucketStatus,
  ChainUnavailableError,
  ChainView,
  type ChainViewOptions,
} from "../../../storage-node/src/chain";

const WRITER = 0;
const READER = 1;

async function authFixture() {
  const f = await exampleFixture();
  const [validator, writer, reader, node3Key] = f.others;
  const { ddc, manager, owner1, provider1, cluster, bucket } = f;
  await ddc.connect(manager).clusterSetValidator(cluster, validator.address, true);
  await ddc.connect(owner1).bucketGrant(bucket, writer.address, WRITER);
  await ddc.connect(owner1).bucketGrant(bucket, reader.address, READER);
  // A second bucket of the same owner, and node 3: registered, in no cluster.
  await ddc.connect(owner1).bucketCreate(cluster, "");
  await ddc.connect(owner1).bucketAllocIntoCluster(2n, 1n);
  await ddc.connect(provider1).nodeCreate(node3Key.address, 1000n, 1_000_000n, {
    engine: "ddc-storage",
    version: "1.0.0",
    urls: ["https://node3.example"],
    metadata: "",
  });
  const { chainId } = await ethers.provider.getNetwork();
  const domain = storageDomain(chainId, f.coreAddress);
  return { ...f, validator, writer, reader, node3Key, domain };
}
type Fixture = Awaited<ReturnType<typeof authFixture>>;

/** The node's view of the chain, and an authenticator for node `nodeId`, on the chain's clock. */
async function nodeSide(f: Fixture, nodeId = 1, chain: Partial<ChainViewOptions> = {}) {
  const view = new ChainView({ provider: ethers.provider, core: f.coreAddress, ...chain });
  const nonces = new Map<string, number>();
  let now = await time.latest();
  const auth = new RequestAuthenticator({
    chain: view,
    domain: f.domain,
    nodeId,
    now: () => now,
    seenNonce: (sessionKey, nonce, expires) => {
      const id = `${sessionKey}/${nonce}`;
      if (nonces.has(id)) return true;
      nonces.set(id, expires);
      return false;
    },
  });
  return {
    view,
    auth,
    nonces,
    /** Follows the chain's clock after time moved. */
    sync: async () => {
      now = await time.latest();
      return now;
    },
    now: () => now,
  };
}

/** An app session of `signer` on `bucket`, and its key. */
async function appSession(
  f: Fixture,
  signer: Signer,
  o: { bucket?: bigint; operations?: number; issuedAt?: number; expiry?: number } = {},
): Promise<{ key: SessionKeyPair; token: SessionToken }> {
  const key = newSessionKey();
  const now = await time.latest();
  const token = await signAppSession(signer, f.domain, {
    bucket: o.bucket ?? f.bucket,
    sessionKey: key.publicKey,
    operations: o.operations ?? ALL_OPS,
    issuedAt: o.issuedAt ?? now,
    expiry: o.expiry ?? now + 3600,
  });
  return { key, token };
}

function req(
  s: { key: SessionKeyPair; token: SessionToken | string },
  o: {
    method?: string;
    target?: string;
    expires: number;
    nonce?: string;
    bodySha256?: string;
    node?: number;
    contentType?: string;
    version?: string;
  },
) {
  const method = o.method ?? "GET";
  const target = o.target ?? "/v1/buckets/1/objects/a.txt";
  const headers = signRequest({
    privateKey: s.key.privateKey,
    sessionToken: s.token,
    node: o.node ?? 1,
    contentType: o.contentType,
    version: o.version,
    method,
    target,
    expires: o.expires,
    nonce: o.nonce,
    bodySha256: o.bodySha256,
  });
  return { method, target, headers: headers as Record<string, string | string[] | undefined> };
}

async function expectError(p: Promise<unknown>, status: number, code: string, message?: string | RegExp) {
  let caught: unknown;
  try {
    await p;
  } catch (error) {
    caught = error;
  }
  expect(caught, "expected a refusal").to.be.instanceOf(NodeError);
  // Refusals are AuthErrors; an outage of the chain is a ChainUnavailableError.
  expect(caught).to.be.instanceOf(status === 503 ? ChainUnavailableError : AuthError);
  const e = caught as NodeError;
  expect({ status: e.status, code: e.code }).to.deep.equal({ status, code });
  if (typeof message === "string") expect(e.message).to.equal(message);
  else if (message !== undefined) expect(e.message).to.match(message);
}

describe("storage-node auth", function () {
  describe("sessions and requests", function () {
    it("authenticates an owner's request and authorises every operation on an Active bucket", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const s = await appSession(f, f.owner1);
      const principal = await n.auth.authenticate(req(s, { expires: n.now() + 60 }));
      expect(principal).to.deep.equal({
        kind: "app",
        bucket: f.bucket,
        account: f.owner1.address,
        operations: ALL_OPS,
        sessionKey: ethers.hexlify(s.key.publicKey),
      } satisfies Principal);
      for (const op of ["read", "write", "delete", "list"] as const) {
        const { bucket, cluster } = await n.auth.authorize(principal, { op, bucket: f.bucket });
        expect(bucket.status).to.equal(BucketStatus.Active);
        expect(cluster.nodes).to.deep.equal([1, 2]);
      }
      const body = ethers.sha256(ethers.toUtf8Bytes("hello")).slice(2);
      const put = req(s, { method: "PUT", expires: n.now() + 60, bodySha256: body });
      expect(put.headers[HEADER.contentSha256]).to.equal(body);
      expect(put.headers[HEADER.nonce]).to.match(/^[A-Za-z0-9_-]{22}$/);
      expect((await n.auth.authenticate({ ...put, bodySha256: body })).kind).to.equal("app");
      // The same session is verified once: one cached entry.
      expect(n.auth.cachedSessions).to.equal(1);
    });

    it("refuses missing and malformed headers: 401 unauthenticated", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const s = await appSession(f, f.owner1);
      const good = req(s, { expires: n.now() + 60 });
      const without = (name: string) => ({ ...good, headers: { ...good.headers, [name]: undefined } });
      await expectError(
        n.auth.authenticate({ ...good, headers: {} }),
        401,
        "unauthenticated",
        "x-ddc-session: the header is missing",
      );
      await expectError(
        n.auth.authenticate(without(HEADER.signature)),
        401,
        "unauthenticated",
        "x-ddc-signature: the header is missing",
      );
      await expectError(
        n.auth.authenticate(without(HEADER.expires)),
        401,
        "unauthenticated",
        "x-ddc-expires: the header is missing",
      );
      const twice = { ...good, headers: { ...good.headers, [HEADER.session]: ["a", "b"] } };
      await expectError(
        n.auth.authenticate(twice),
        401,
        "unauthenticated",
        "x-ddc-session: the header appears more than once",
      );
      const set = (name: string, value: string) => ({ ...good, headers: { ...good.headers, [name]: value } });
      await expectError(
        n.auth.authenticate(set(HEADER.expires, "soon")),
        401,
        "unauthenticated",
        "x-ddc-expires: expected unix seconds",
      );
      await expectError(
        n.auth.authenticate(set(HEADER.signature, "abc")),
        401,
        "unauthenticated",
        "x-ddc-signature: expected 64 bytes, base64url",
      );
      await expectError(
        n.auth.authenticate(set(HEADER.nonce, "a b")),
        401,
        "unauthenticated",
        /^x-ddc-nonce: expected 8 to 64/,
      );
      await expectError(
        n.auth.authenticate(set(HEADER.contentSha256, "zz")),
        401,
        "unauthenticated",
        "x-ddc-content-sha256: expected 64 hex digits",
      );
      await expectError(
        n.auth.authenticate(set(HEADER.session, "!!!")),
        401,
        "unauthenticated",
        "session token: not base64url-encoded JSON",
      );
      const bad = encodeSessionToken({ ...(s.token as SessionToken & { kind: "app" }), expiry: -5 });
      await expectError(
        n.auth.authenticate(set(HEADER.session, bad)),
        401,
        "unauthenticated",
        /^session token: expiry: /,
      );
    });

    it("decodeSessionToken names the bad field", async function () {
      const f = await loadFixture(authFixture);
      const { token } = await appSession(f, f.owner1);
      expect(decodeSessionToken(encodeSessionToken(token))).to.deep.equal(token);
      const bad = (patch: Record<string, unknown>) => encodeSessionToken({ ...token, ...patch } as SessionToken);
      expect(() => decodeSessionToken(bad({ sessionKey: "0x12" }))).to.throw(
        /^session token: sessionKey: expected 0x and 64 hex digits$/,
      );
      expect(() => decodeSessionToken(bad({ bucket: "007" }))).to.throw(/^session token: bucket: /);
      expect(() => decodeSessionToken(bad({ bucket: "18446744073709551616" }))).to.throw(
        "session token: bucket: bucket id above uint64",
      );
      expect(() => decodeSessionToken(bad({ operations: 16 }))).to.throw(/^session token: operations: /);
      expect(() => decodeSessionToken(bad({ signature: "0x00" }))).to.throw(
        /^session token: signature: expected a 65-byte signature/,
      );
      expect(() => decodeSessionToken(bad({ kind: "admin" }))).to.throw(/^session token: kind: /);
      expect(() => decodeSessionToken(bad({ extra: 1 }))).to.throw(/^session token: /);
      // Decimal strings are accepted for integers, and normalised.
      const asStrings = decodeSessionToken(bad({ expiry: String(token.expiry) }));
      expect(asStrings.expiry).to.equal(token.expiry);
    });

    it("refuses an expired or overlong session, an expired or far-ahead request", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const now = n.now();
      const expired = await appSession(f, f.owner1, { expiry: now });
      await expectError(
        n.auth.authenticate(req(expired, { expires: now + 60 })),
        401,
        "session-expired",
        `the session expired at ${now}`,
      );
      const long = await appSession(f, f.owner1, { expiry: now + MAX_SESSION_TTL_S + 1 });
      await expectError(
        n.auth.authenticate(req(long, { expires: now + 60 })),
        401,
        "unauthenticated",
        /lasts longer than 2592000 s/,
      );
      const atMost = await appSession(f, f.owner1, { expiry: now + MAX_SESSION_TTL_S });
      expect((await n.auth.authenticate(req(atMost, { expires: now + 60 }))).kind).to.equal("app");
      const s = await appSession(f, f.owner1);
      await expectError(
        n.auth.authenticate(req(s, { expires: now })),
        401,
        "request-expired",
        `the request expired at ${now}`,
      );
      await expectError(
        n.auth.authenticate(req(s, { expires: now + MAX_REQUEST_TTL_S + 1 })),
        401,
        "request-expired",
        /more than 900 s ahead/,
      );
      expect((await n.auth.authenticate(req(s, { expires: now + MAX_REQUEST_TTL_S }))).kind).to.equal("app");
      // A session that was good expires once time passes it, cached or not.
      await time.increase(3601);
      await n.sync();
      await expectError(n.auth.authenticate(req(s, { expires: n.now() + 60 })), 401, "session-expired");
    });

    it("refuses forged sessions and forged request signatures", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const exp = n.now() + 60;
      // A stranger's app session authenticates as the stranger, who may do nothing on the bucket.
      const stranger = await appSession(f, f.stranger);
      const p = await n.auth.authenticate(req(stranger, { expires: exp }));
      expect(p).to.include({ kind: "app", account: f.stranger.address });
      await expectError(
        n.auth.authorize(p, { op: "read", bucket: f.bucket }),
        403,
        "forbidden",
        `${f.stranger.address} neither owns bucket 1 nor holds its Reader role`,
      );
      // The owner's session with its operations widened after signing: another signer, forbidden.
      const narrow = await appSession(f, f.owner1, { operations: Op.Read });
      const widened = { key: narrow.key, token: { ...narrow.token, operations: ALL_OPS } as SessionToken };
      const pw = await n.auth.authenticate(req(widened, { expires: exp }));
      expect(pw).to.include({ kind: "app" });
      expect((pw as { account: string }).account).to.not.equal(f.owner1.address);
      await expectError(n.auth.authorize(pw, { op: "write", bucket: f.bucket }), 403, "forbidden");
      // A signature that recovers no one.
      const broken = { key: narrow.key, token: { ...narrow.token, signature: "0x" + "00".repeat(65) } as SessionToken };
      await expectError(
        n.auth.authenticate(req(broken, { expires: exp })),
        401,
        "bad-signature",
        "the session's signature is not valid",
      );
      // Node and validator sessions signed by a stranger.
      const key = newSessionKey();
      const node = await signNodeSession(f.stranger, f.domain, {
        node: 2,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      await expectError(
        n.auth.authenticate(req({ key, token: node }, { expires: exp })),
        401,
        "bad-signature",
        "the session is not signed by node 2's key",
      );
      const val = await signValidatorSession(f.stranger, f.domain, {
        cluster: 1,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      await expectError(
        n.auth.authenticate(req({ key, token: val }, { expires: exp })),
        401,
        "bad-signature",
        "the session is not signed by a validator of cluster 1",
      );
      // A session signed for another core (another domain): another signer.
      const other = await signAppSession(f.owner1, storageDomain(31337, f.stranger.address), {
        bucket: f.bucket,
        sessionKey: key.publicKey,
        operations: ALL_OPS,
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      const po = await n.auth.authenticate(req({ key, token: other }, { expires: exp }));
      expect((po as { account: string }).account).to.not.equal(f.owner1.address);
      // Request signatures: another key, or a request changed after signing.
      const s = await appSession(f, f.owner1);
      const wrongKey = req({ key: newSessionKey(), token: s.token }, { expires: exp });
      await expectError(
        n.auth.authenticate(wrongKey),
        401,
        "bad-signature",
        "the request's signature is not the session key's over this request to node 1 (signed for another node, or altered)",
      );
      const signed = req(s, { expires: exp });
      await expectError(
        n.auth.authenticate({ ...signed, target: "/v1/buckets/1/objects/b.txt" }),
        401,
        "bad-signature",
      );
      await expectError(n.auth.authenticate({ ...signed, method: "HEAD" }), 401, "bad-signature");
      await expectError(n.auth.authenticate({ ...signed, bodySha256: "11".repeat(32) }), 401, "bad-signature");
      expect((await n.auth.authenticate(signed)).kind).to.equal("app");
    });

    it("needs a nonce on writes and deletes, refuses a replay with 409, and a refused request uses no nonce", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const s = await appSession(f, f.owner1);
      const exp = n.now() + 60;
      for (const method of ["PUT", "DELETE", "POST"]) {
        const r = req(s, { method, expires: exp });
        delete r.headers[HEADER.nonce];
        await expectError(n.auth.authenticate(r), 401, "unauthenticated", `x-ddc-nonce: a ${method} needs a nonce`);
      }
      // A forged request carrying the nonce consumes nothing.
      const forged = req(
        { key: newSessionKey(), token: s.token },
        { method: "PUT", expires: exp, nonce: "nonce-0001" },
      );
      await expectError(n.auth.authenticate(forged), 401, "bad-signature");
      const expired = req(s, { method: "PUT", expires: n.now(), nonce: "nonce-0001" });
      await expectError(n.auth.authenticate(expired), 401, "request-expired");
      expect(n.nonces.size).to.equal(0);
      const put = req(s, { method: "PUT", expires: exp, nonce: "nonce-0001" });
      expect((await n.auth.authenticate(put)).kind).to.equal("app");
      expect([...n.nonces.entries()]).to.deep.equal([[`${s.token.sessionKey}/nonce-0001`, exp]]);
      await expectError(n.auth.authenticate(put), 409, "replayed", "nonce nonce-0001 was already used by this session");
      expect(n.nonces.size).to.equal(1);
      // Reads need none.
      const get = req(s, { expires: exp });
      expect(get.headers[HEADER.nonce]).to.equal(undefined);
      expect((await n.auth.authenticate(get)).kind).to.equal("app");
      expect((await n.auth.authenticate(get)).kind).to.equal("app");
    });

    it("binds a request to its node, its x-ddc-version and a PUT's content type", async function () {
      const f = await loadFixture(authFixture);
      const n1 = await nodeSide(f, 1);
      const n2 = await nodeSide(f, 2);
      const s = await appSession(f, f.owner1);
      const exp = n1.now() + 60;
      // One signed DELETE: node 1 takes it, node 2 (another replica) refuses it and records nothing.
      const del = req(s, { method: "DELETE", expires: exp, nonce: "nonce-del1" });
      await expectError(
        n2.auth.authenticate(del),
        401,
        "bad-signature",
        /over this request to node 2 \(signed for another node/,
      );
      expect(n2.nonces.size).to.equal(0);
      expect((await n1.auth.authenticate(del)).kind).to.equal("app");
      // Signed for node 2, it is node 2's.
      expect((await n2.auth.authenticate(req(s, { method: "DELETE", expires: exp, node: 2 }))).kind).to.equal("app");
      // The version header and a PUT's content type are signed: rewriting or dropping them fails.
      const body = "ab".repeat(32);
      const put = req(s, { method: "PUT", expires: exp, bodySha256: body, contentType: "text/plain", version: "5" });
      expect(put.headers["content-type"]).to.equal("text/plain");
      expect(put.headers[HEADER.version]).to.equal("5");
      const edit = (name: string, value: string | undefined) => ({
        ...put,
        headers: { ...put.headers, [name]: value },
      });
      await expectError(n1.auth.authenticate(edit(HEADER.version, "6")), 401, "bad-signature");
      await expectError(n1.auth.authenticate(edit(HEADER.version, undefined)), 401, "bad-signature");
      await expectError(n1.auth.authenticate(edit("content-type", "text/html")), 401, "bad-signature");
      await expectError(n1.auth.authenticate(edit("content-type", undefined)), 401, "bad-signature");
      expect((await n1.auth.authenticate(put)).kind).to.equal("app");
      // A version header added to a request signed without one fails too.
      const get = req(s, { expires: exp });
      await expectError(
        n1.auth.authenticate({ ...get, headers: { ...get.headers, [HEADER.version]: "7" } }),
        401,
        "bad-signature",
      );
      // A content type counts on a PUT only: a GET may carry any.
      const typed = { ...get, headers: { ...get.headers, "content-type": "text/html" } };
      expect((await n1.auth.authenticate(typed)).kind).to.equal("app");
      expect(() =>
        signRequest({
          ...put,
          privateKey: s.key.privateKey,
          sessionToken: s.token,
          node: 1,
          method: "GET",
          target: "/",
          expires: exp,
          contentType: "x/y",
        }),
      ).to.throw(/only a PUT/);
      expect(() =>
        signRequest({
          privateKey: s.key.privateKey,
          sessionToken: s.token,
          node: 1,
          method: "PUT",
          target: "/",
          expires: exp,
          version: "1\n2",
        }),
      ).to.throw(/without line breaks/);
      // The canonical string, line by line.
      expect(
        canonicalRequest({
          node: 3,
          method: "put",
          target: "/v1/buckets/1/objects/a.txt",
          bodySha256: "AB".repeat(32),
          contentType: "text/plain",
          version: "9",
          expires: 1700000000,
          nonce: "nonce-0001",
        }),
      ).to.equal(
        `DDC-REQUEST-2\n3\nPUT\n/v1/buckets/1/objects/a.txt\n${"ab".repeat(32)}\ntext/plain\n9\n1700000000\nnonce-0001`,
      );
      expect(
        canonicalRequest({
          node: 3,
          method: "GET",
          target: "/x",
          bodySha256: EMPTY_SHA256,
          contentType: "a/b",
          expires: 1,
        }),
      ).to.equal(`DDC-REQUEST-2\n3\nGET\n/x\n${EMPTY_SHA256}\n-\n-\n1\n-`);
    });

    it("limits a session's whole life from issuedAt, and refuses one issued ahead of the clock", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const now = n.now();
      const day = 24 * 3600;
      // Signed 20 days ago to last 35 days: only 15 are left, but it is refused.
      const old = await appSession(f, f.owner1, { issuedAt: now - 20 * day, expiry: now + 15 * day });
      await expectError(
        n.auth.authenticate(req(old, { expires: now + 60 })),
        401,
        "unauthenticated",
        `the session lasts longer than ${MAX_SESSION_TTL_S} s (issued at ${now - 20 * day}, expiry ${now + 15 * day})`,
      );
      const ahead = await appSession(f, f.owner1, { issuedAt: now + 61 });
      await expectError(
        n.auth.authenticate(req(ahead, { expires: now + 60 })),
        401,
        "unauthenticated",
        /ahead of the node's clock/,
      );
      const skewed = await appSession(f, f.owner1, { issuedAt: now + 60 });
      expect((await n.auth.authenticate(req(skewed, { expires: now + 60 }))).kind).to.equal("app");
      // issuedAt is signed: moved later in the token, the session recovers someone else.
      const s = await appSession(f, f.owner1, { issuedAt: now - 10 });
      const moved = { key: s.key, token: { ...s.token, issuedAt: now } as SessionToken };
      const p = await n.auth.authenticate(req(moved, { expires: now + 60 }));
      expect((p as { account: string }).account).to.not.equal(f.owner1.address);
      expect(n.auth.stats.recoveries).to.equal(2);
    });

    it("checks times and sizes before any signature, the request before the session, and recovers a session once whatever its encoding", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const now = n.now();
      const none = () => expect(n.auth.stats).to.deep.equal({ recoveries: 0, signatureChecks: 0, readHits: 0 });
      await expectError(
        n.auth.authenticate(req(await appSession(f, f.owner1, { expiry: now }), { expires: now + 60 })),
        401,
        "session-expired",
      );
      const long = await appSession(f, f.owner1, { expiry: now + MAX_SESSION_TTL_S + 1 });
      await expectError(n.auth.authenticate(req(long, { expires: now + 60 })), 401, "unauthenticated");
      const s = await appSession(f, f.owner1);
      await expectError(n.auth.authenticate(req(s, { expires: now })), 401, "request-expired");
      const big = req(s, { expires: now + 60 });
      big.headers[HEADER.session] = "A".repeat(MAX_SESSION_TOKEN_CHARS + 1);
      await expectError(n.auth.authenticate(big), 401, "unauthenticated", `x-ddc-session: longer than 2048 characters`);
      none();
      // A request signed by another key: refused by its ed25519 signature, the session never recovered.
      await expectError(
        n.auth.authenticate(req({ key: newSessionKey(), token: s.token }, { expires: now + 60 })),
        401,
        "bad-signature",
      );
      expect(n.auth.stats).to.deep.equal({ recoveries: 0, signatureChecks: 1, readHits: 0 });
      expect(n.auth.cachedSessions).to.equal(0);

      // Re-encodings of one token: one recovery, one cache entry, one principal.
      const token = s.token as SessionToken & { kind: "app" };
      const json = (o: unknown, space?: number) => Buffer.from(JSON.stringify(o, null, space)).toString("base64url");
      const sig = token.signature.slice(2);
      const v = parseInt(sig.slice(128), 16);
      const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = (N - BigInt("0x" + sig.slice(64, 128))).toString(16).padStart(64, "0");
      const encodings = [
        encodeSessionToken(token),
        encodeSessionToken(token) + "=",
        json(token, 2),
        json(Object.fromEntries(Object.entries(token).reverse())),
        json({ ...token, expiry: String(token.expiry), issuedAt: String(token.issuedAt) }),
        json({ ...token, signature: token.signature.toUpperCase().replace("0X", "0x") }),
        json({ ...token, signature: `0x${sig.slice(0, 128)}${(v - 27).toString(16).padStart(2, "0")}` }),
      ];
      const principals: Principal[] = [];
      for (const text of encodings)
        principals.push(await n.auth.authenticate(req({ key: s.key, token: text }, { expires: now + 60 })));
      // A malleated signature (s above the half order, v flipped) is the same session too, if ethers takes it.
      const malleated = json({
        ...token,
        signature: `0x${sig.slice(0, 64)}${highS}${(v === 27 ? 28 : 27).toString(16)}`,
      });
      try {
        recoverSession(f.domain, decodeSessionToken(malleated));
        principals.push(await n.auth.authenticate(req({ key: s.key, token: malleated }, { expires: now + 60 })));
      } catch {
        // ethers refuses it outright
      }
      for (const p of principals) expect(p).to.deep.equal(principals[0]);
      expect((principals[0] as { account: string }).account).to.equal(f.owner1.address);
      expect(n.auth.cachedSessions).to.equal(1);
      expect(n.auth.stats.recoveries).to.equal(1);

      // A session whose signature recovers no one: recovered once, then refused from the cache.
      let r = 1n;
      let dud: SessionToken;
      for (;;) {
        dud = { ...token, signature: `0x${r.toString(16).padStart(64, "0")}${"00".repeat(31)}011b` };
        try {
          recoverSession(f.domain, dud);
          r++;
        } catch {
          break;
        }
      }
      for (let i = 0; i < 3; i++) {
        await expectError(
          n.auth.authenticate(req({ key: s.key, token: dud }, { expires: now + 60 })),
          401,
          "bad-signature",
          "the session's signature is not valid",
        );
      }
      expect(n.auth.stats.recoveries).to.equal(2);
      expect(n.auth.cachedRefusedSessions).to.equal(1);
    });

    it("verifies a repeated signed GET once, never caches writes, and keys the cache by the session key", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const exp = n.now() + 60;
      const s = await appSession(f, f.owner1);
      const get = req(s, { expires: exp });
      for (let i = 0; i < 3; i++) expect((await n.auth.authenticate(get)).kind).to.equal("app");
      expect(n.auth.stats).to.deep.equal({ recoveries: 1, signatureChecks: 1, readHits: 2 });
      expect(n.auth.cachedReads).to.equal(1);
      // The signature's bytes count, not their text: a re-encoding with padding is the same entry.
      const padded = {
        ...get,
        headers: { ...get.headers, [HEADER.signature]: `${get.headers[HEADER.signature] as string}==` },
      };
      expect(fromBase64url(padded.headers[HEADER.signature]).length).to.equal(64);
      await n.auth.authenticate(padded);
      expect(n.auth.stats.readHits).to.equal(3);
      // The same signature presented with another session's token is verified against that key.
      const other = await appSession(f, f.owner1);
      const swapped = { ...get, headers: { ...get.headers, [HEADER.session]: encodeSessionToken(other.token) } };
      await expectError(n.auth.authenticate(swapped), 401, "bad-signature");
      // The same read as a HEAD, or after it expires, is not taken from the cache.
      await expectError(n.auth.authenticate({ ...get, method: "HEAD" }), 401, "bad-signature");
      // Writes and deletes are verified every time and never cached.
      const before = n.auth.stats.signatureChecks;
      for (const method of ["PUT", "DELETE"]) await n.auth.authenticate(req(s, { method, expires: exp }));
      expect(n.auth.stats.signatureChecks).to.equal(before + 2);
      expect(n.auth.cachedReads).to.equal(1);
      await time.increase(120);
      await n.sync();
      await expectError(n.auth.authenticate(get), 401, "request-expired");
    });

    it("keeps at most maxSessions verified sessions", async function () {
      const f = await loadFixture(authFixture);
      const view = new ChainView({ provider: ethers.provider, core: f.coreAddress });
      const now = await time.latest();
      const auth = new RequestAuthenticator({
        chain: view,
        domain: f.domain,
        nodeId: 1,
        now: () => now,
        seenNonce: () => false,
        maxSessions: 2,
      });
      for (let i = 0; i < 3; i++) {
        const s = await appSession(f, f.owner1);
        await auth.authenticate(req(s, { expires: now + 60 }));
      }
      expect(auth.cachedSessions).to.equal(2);
    });
  });

  describe("authorisation", function () {
    it("checks the bucket, the session's operations and the signer's role, in that order", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const exp = n.now() + 60;
      const owner = await n.auth.authenticate(req(await appSession(f, f.owner1), { expires: exp }));
      await expectError(
        n.auth.authorize(owner, { op: "read", bucket: 2n }),
        403,
        "wrong-bucket",
        "the session is for bucket 1, not 2",
      );
      const reader = await n.auth.authenticate(req(await appSession(f, f.reader), { expires: exp }));
      await n.auth.authorize(reader, { op: "read", bucket: f.bucket });
      await n.auth.authorize(reader, { op: "list", bucket: f.bucket });
      await expectError(
        n.auth.authorize(reader, { op: "write", bucket: f.bucket }),
        403,
        "forbidden",
        `${f.reader.address} neither owns bucket 1 nor holds its Writer role`,
      );
      await expectError(n.auth.authorize(reader, { op: "delete", bucket: f.bucket }), 403, "forbidden");
      // A writer may read, and deletes only when the session allows it.
      const writer = await n.auth.authenticate(
        req(await appSession(f, f.writer, { operations: Op.Read | Op.Write }), { expires: exp }),
      );
      await n.auth.authorize(writer, { op: "read", bucket: f.bucket });
      await n.auth.authorize(writer, { op: "write", bucket: f.bucket });
      await expectError(
        n.auth.authorize(writer, { op: "delete", bucket: f.bucket }),
        403,
        "forbidden",
        "the session does not allow delete",
      );
      await expectError(
        n.auth.authorize(writer, { op: "list", bucket: f.bucket }),
        403,
        "forbidden",
        "the session does not allow list",
      );
      const deleter = await n.auth.authenticate(
        req(await appSession(f, f.writer, { operations: Op.Delete }), { expires: exp }),
      );
      await n.auth.authorize(deleter, { op: "delete", bucket: f.bucket });
      // A session for a bucket that does not exist.
      const ghost = await n.auth.authenticate(req(await appSession(f, f.owner1, { bucket: 99n }), { expires: exp }));
      await expectError(
        n.auth.authorize(ghost, { op: "read", bucket: 99n }),
        404,
        "not-found",
        "bucket 99 does not exist",
      );
    });

    it("refuses a bucket whose cluster does not hold this node: 421", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f, 3);
      const owner = await n.auth.authenticate(req(await appSession(f, f.owner1), { expires: n.now() + 60, node: 3 }));
      await expectError(
        n.auth.authorize(owner, { op: "read", bucket: f.bucket }),
        421,
        "not-in-cluster",
        "bucket 1 is in cluster 1, which does not hold node 3",
      );
    });

    it("serves an InArrears bucket for reading only, then refuses it Suspended (402) and Closed (410)", async function () {
      const f = await loadFixture(authFixture);
      let ms = 0;
      const n = await nodeSide(f, 1, { clock: () => ms });
      expect(await n.view.poll()).to.equal(0); // the first poll notes the block to read events from
      const covered = Number(await f.ddc.rentCoveredUntil(f.owner1.address, f.cluster));
      await time.increaseTo(covered + 1);
      await n.sync();
      expect(await f.ddc.bucketStatus(f.bucket)).to.equal(BigInt(BucketStatus.InArrears));
      const owner = await n.auth.authenticate(
        req(await appSession(f, f.owner1), { method: "PUT", expires: n.now() + 60 }),
      );
      await n.auth.authorize(owner, { op: "read", bucket: f.bucket });
      await n.auth.authorize(owner, { op: "list", bucket: f.bucket });
      await expectError(
        n.auth.authorize(owner, { op: "write", bucket: f.bucket }),
        402,
        "bucket-in-arrears",
        "bucket 1 is in arrears: read only",
      );
      await expectError(n.auth.authorize(owner, { op: "delete", bucket: f.bucket }), 402, "bucket-in-arrears");
      await time.increase(f.parameters.gracePeriod);
      // The status is cached 5 s at most, events or not.
      ms += 4_000;
      await n.auth.authorize(owner, { op: "read", bucket: f.bucket });
      ms += 1_001;
      await expectError(
        n.auth.authorize(owner, { op: "read", bucket: f.bucket }),
        402,
        "bucket-suspended",
        "bucket 1 is suspended",
      );
      await f.ddc.connect(f.owner1).bucketClose(f.bucket);
      expect(await n.view.poll()).to.be.greaterThan(0);
      await expectError(
        n.auth.authorize(owner, { op: "read", bucket: f.bucket }),
        410,
        "bucket-closed",
        "bucket 1 is closed",
      );
    });

    it("lets a peer node of the cluster act, not a node outside it; a validator only challenges", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const exp = n.now() + 60;
      const key = newSessionKey();
      const peer = await signNodeSession(f.nodeKey2, f.domain, {
        node: 2,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      const p = await n.auth.authenticate(req({ key, token: peer }, { method: "PUT", expires: exp }));
      expect(p).to.deep.equal({ kind: "node", node: 2, sessionKey: ethers.hexlify(key.publicKey) });
      await n.auth.authorize(p, { op: "write", bucket: f.bucket });
      await n.auth.authorize(p, { op: "delete", bucket: f.bucket });
      const outsider = await signNodeSession(f.node3Key, f.domain, {
        node: 3,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      const p3 = await n.auth.authenticate(req({ key, token: outsider }, { expires: exp }));
      await expectError(
        n.auth.authorize(p3, { op: "read", bucket: f.bucket }),
        403,
        "forbidden",
        "node 3 is not in cluster 1",
      );
      const val = await signValidatorSession(f.validator, f.domain, {
        cluster: 1,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      const pv = await n.auth.authenticate(
        req(
          { key, token: val },
          { method: "POST", target: "/v1/qos/challenge", expires: exp, bodySha256: EMPTY_SHA256 },
        ),
      );
      expect(pv).to.deep.equal({
        kind: "validator",
        cluster: 1,
        account: f.validator.address,
        sessionKey: ethers.hexlify(key.publicKey),
      });
      await expectError(
        n.auth.authorize(pv, { op: "read", bucket: f.bucket }),
        403,
        "forbidden",
        "a validator session may only send challenges",
      );
      expect((await n.auth.authorizeChallenge(pv, f.bucket)).id).to.equal(1);
      await expectError(
        n.auth.authorizeChallenge(p, f.bucket),
        403,
        "forbidden",
        "only a validator session may send challenges",
      );
      await expectError(n.auth.authorizeChallenge(pv, 99n), 404, "not-found");
      const n3 = await nodeSide(f, 3);
      await expectError(n3.auth.authorizeChallenge(pv), 421, "not-in-cluster", "node 3 is not in cluster 1");
    });

    it("capBytes is the bucket's cap times the cluster's unit size", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f);
      const b = await f.ddc.getBucket(f.bucket);
      expect(b.cap).to.equal(10n);
      expect(await n.auth.capBytes(f.bucket)).to.equal(10n * GIB);
      await expectError(n.auth.capBytes(99n), 404, "not-found", "bucket 99 does not exist");
    });
  });

  describe("the chain view", function () {
    it("reads buckets, roles, clusters, nodes and eras as the core has them", async function () {
      const f = await loadFixture(authFixture);
      const view = new ChainView({ provider: ethers.provider, core: f.coreAddress });
      expect(await view.bucket(f.bucket)).to.deep.equal({
        id: 1n,
        owner: f.owner1.address,
        cluster: 1,
        status: BucketStatus.Active,
        cap: 10n,
        closed: false,
      });
      expect(await view.bucket(99n)).to.equal(undefined);
      expect(await view.hasRole(f.bucket, f.reader.address, BucketRole.Reader)).to.equal(true);
      expect(await view.hasRole(f.bucket, f.reader.address, BucketRole.Writer)).to.equal(false);
      const q = 1n << 62n;
      expect(await view.cluster(1)).to.deep.equal({
        id: 1,
        manager: f.manager.address,
        replicationFactor: 2,
        eraLength: 3600,
        unitSize: GIB,
        nodes: [1, 2],
        ring: { tokens: [0n, q, 2n * q, 3n * q], nodes: [1, 2, 1, 2] },
        validators: [f.validator.address],
      });
      expect(await view.cluster(9)).to.equal(undefined);
      expect(await view.node(1)).to.deep.equal({
        id: 1,
        provider: f.provider1.address,
        signingKey: f.nodeKey1.address,
        urls: ["https://node.example:8080"],
        engine: "ddc-storage",
        version: "1.0.0",
      });
      expect(await view.node(42)).to.equal(undefined);
      expect(await view.nodeByKey(f.nodeKey2.address)).to.equal(2);
      expect(await view.nodeByKey(f.stranger.address)).to.equal(undefined);
      const [era, start, end] = await f.ddc.clusterEra(1);
      expect(await view.era(1)).to.deep.equal({ era: Number(era), start: Number(start), end: Number(end) });
      expect(await view.era(1, Number(start) + 3 * 3600 + 5)).to.deep.equal({
        era: Number(era) + 3,
        start: Number(start) + 3 * 3600,
        end: Number(start) + 4 * 3600,
      });
      expect(await view.era(1, Number(start) - 1)).to.deep.equal({
        era: Number(era) - 1,
        start: Number(start) - 3600,
        end: Number(start),
      });
      expect(await view.era(9)).to.equal(undefined);
    });

    it("sees a revoked role and a rotated key once the events are polled, not before", async function () {
      const f = await loadFixture(authFixture);
      const n = await nodeSide(f, 1, { ttlMs: 3_600_000 });
      await n.view.start();
      n.view.stop(); // polled by hand below
      const exp = n.now() + 600;
      const reader = await n.auth.authenticate(req(await appSession(f, f.reader), { expires: exp }));
      await n.auth.authorize(reader, { op: "read", bucket: f.bucket });
      await f.ddc.connect(f.owner1).bucketRevoke(f.bucket, f.reader.address, READER);
      await n.auth.authorize(reader, { op: "read", bucket: f.bucket }); // cached
      expect(await n.view.poll()).to.equal(1);
      await expectError(n.auth.authorize(reader, { op: "read", bucket: f.bucket }), 403, "forbidden");
      // A node session signed by the old key stops counting once the rotation is seen.
      const key = newSessionKey();
      const peer = await signNodeSession(f.nodeKey2, f.domain, {
        node: 2,
        sessionKey: key.publicKey,
        // Issued now by the chain's clock (other tests move it ahead of the wall clock).
        issuedAt: n.now(),
        expiry: exp + 3600,
      });
      expect((await n.auth.authenticate(req({ key, token: peer }, { expires: exp }))).kind).to.equal("node");
      await f.ddc.connect(f.provider2).nodeRotateKey(2, f.stranger.address);
      expect((await n.auth.authenticate(req({ key, token: peer }, { expires: exp }))).kind).to.equal("node"); // cached
      await n.view.poll();
      await expectError(n.auth.authenticate(req({ key, token: peer }, { expires: exp })), 401, "bad-signature");
      // A removed member is seen too.
      expect((await n.view.cluster(1))!.validators).to.deep.equal([f.validator.address]);
      await f.ddc.connect(f.manager).clusterSetValidator(1, f.validator.address, false);
      await n.view.poll();
      expect((await n.view.cluster(1))!.validators).to.deep.equal([]);
    });

    it("answers 503 chain-unavailable naming the RPC when it is away, after serving stale values a bounded time", async function () {
      const f = await loadFixture(authFixture);
      // A JSON-RPC endpoint in front of the Hardhat network, that the test can take away.
      const server: Server = createServer((request, response) => {
        let body = "";
        request.on("data", (chunk) => (body += chunk));
        request.on("end", async () => {
          const calls = JSON.parse(body) as
            { id: number; method: string; params: unknown[] } | { id: number; method: string; params: unknown[] }[];
          const one = async (c: { id: number; method: string; params: unknown[] }) => {
            try {
              return {
                jsonrpc: "2.0",
                id: c.id,
                result: await network.provider.request({ method: c.method, params: c.params }),
              };
            } catch (error) {
              return {
                jsonrpc: "2.0",
                id: c.id,
                error: { code: -32000, message: (error as Error).message, data: (error as { data?: unknown }).data },
              };
            }
          };
          const out = Array.isArray(calls) ? await Promise.all(calls.map(one)) : await one(calls);
          response.setHeader("content-type", "application/json");
          response.end(JSON.stringify(out));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const { chainId } = await ethers.provider.getNetwork();
      const provider = new JsonRpcProvider(url, chainId, { staticNetwork: true, batchMaxCount: 1 });
      let ms = 0;
      const options = {
        provider,
        core: f.coreAddress,
        clock: () => ms,
        retry: { retries: 0, retryBaseMs: 1, retryMaxMs: 1 },
      };
      const stale = new ChainView({ ...options, staleMs: 30_000 });
      const strict = new ChainView({ ...options, staleMs: 0 });
      try {
        expect((await stale.bucket(f.bucket))!.status).to.equal(BucketStatus.Active);
        expect((await strict.bucket(f.bucket))!.status).to.equal(BucketStatus.Active);
        // A revert is an answer (no such bucket), not an outage.
        expect(await strict.bucket(99n)).to.equal(undefined);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      ms += 6_000; // past the status TTL
      expect((await stale.bucket(f.bucket))!.status).to.equal(BucketStatus.Active);
      await expectError(
        strict.bucket(f.bucket),
        503,
        "chain-unavailable",
        new RegExp(`^the chain is unavailable: the RPC at ${url} failed: `),
      );
      ms += 30_000; // past the stale bound
      await expectError(stale.bucket(f.bucket), 503, "chain-unavailable");
      await expectError(stale.poll(), 503, "chain-unavailable");
      expect(stale.lastPollError?.message).to.match(
        /^the chain is unavailable: the RPC at http:\/\/127\.0\.0\.1:\d+ failed/,
      );
      // The authenticator passes it on as it is.
      const auth = new RequestAuthenticator({
        chain: strict,
        domain: f.domain,
        nodeId: 1,
        now: () => Number.MAX_SAFE_INTEGER,
        seenNonce: () => false,
      });
      const principal: Principal = {
        kind: "app",
        bucket: f.bucket,
        account: f.owner1.address,
        operations: ALL_OPS,
        sessionKey: "0x" + "00".repeat(32),
      };
      await expectError(auth.authorize(principal, { op: "read", bucket: f.bucket }), 503, "chain-unavailable");
      provider.destroy();
    });

    it("shares one read among concurrent callers", async function () {
      const f = await loadFixture(authFixture);
      let calls = 0;
      const counting = new Proxy(ethers.provider, {
        get(target, prop, receiver) {
          if (prop === "call")
            return (...args: unknown[]) => (calls++, (target.call as (...a: unknown[]) => unknown)(...args));
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      const view = new ChainView({ provider: counting, core: f.coreAddress });
      const all = await Promise.all(Array.from({ length: 20 }, () => view.bucket(f.bucket)));
      expect(all.every((b) => b?.owner === f.owner1.address)).to.equal(true);
      expect(calls).to.equal(1);
      await view.bucket(f.bucket);
      expect(calls).to.equal(1);
    });
  });
});
