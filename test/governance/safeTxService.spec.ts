import { expect } from "chai";
import { DirectorySignatureStore } from "../../governance/safeStore";
import {
  SAFE_ORIGIN_LIMIT,
  TransactionServiceStore,
  compactOrigin,
  defaultStore,
  openStore,
  servedBySafe,
} from "../../governance/safeTxService";

describe("governance: which signature store, and what Safe's service keeps", function () {
  it("knows the chains Safe's Transaction Service serves", function () {
    expect([1, 11155111, 8453, 31337, 1337].map(servedBySafe)).to.deep.equal([true, true, true, false, false]);
  });

  it("defaults to Safe's service where it runs, else to the directory beside the deployment record", function () {
    expect(defaultStore(11155111, "/x/deployments/sepolia.json")).to.equal("safe");
    expect(defaultStore(31337, "/x/deployments/localhost.json")).to.equal("/x/deployments/localhost.signatures");
  });

  it("opens a directory, a signature server's URL (with /api) or Safe's service (with an API key), else says why", function () {
    expect(openStore("./sigs", 31337)).to.be.instanceOf(DirectorySignatureStore);
    const server = openStore("http://127.0.0.1:8600/", 31337) as TransactionServiceStore;
    expect(server.txServiceUrl).to.equal("http://127.0.0.1:8600/api");
    expect((openStore("https://host.example/tx/api", 1) as TransactionServiceStore).txServiceUrl).to.equal(
      "https://host.example/tx/api",
    );
    const safe = openStore("safe", 11155111, "key") as TransactionServiceStore;
    expect([safe instanceof TransactionServiceStore, safe.txServiceUrl]).to.deep.equal([true, undefined]);
    expect(() => openStore("safe", 11155111)).to.throw(
      "Safe's Transaction Service needs an API key (DDC_SAFE_API_KEY)",
    );
    expect(() => openStore("safe", 31337, "key")).to.throw("Safe's Transaction Service does not serve chain 31337");
  });

  it("cuts a long description for Safe's service to the lines a reader parses", function () {
    const key = "ddc-action: cluster=1 era=41 kind=distribution";
    const evidence = `Evidence: 0x${"ab".repeat(32)}`;
    const long = ["# Distribute era 41 of cluster 1", "", "x".repeat(500), "", evidence, "", key].join("\n");
    expect(compactOrigin("# Short\n\n" + key, SAFE_ORIGIN_LIMIT)).to.equal("# Short\n\n" + key);
    // The key (47) and the evidence line (76) do not fit together in 100: the key wins.
    expect(compactOrigin(long, SAFE_ORIGIN_LIMIT)).to.equal(`${key}\n# Distribute era 41 of cluster 1`);
    expect(compactOrigin(long, 200)).to.equal(`${key}\n${evidence}\n# Distribute era 41 of cluster 1`);
    expect(compactOrigin("y".repeat(300), SAFE_ORIGIN_LIMIT)).to.equal("y".repeat(100));
  });
});
