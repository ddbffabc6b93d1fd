import { expect } from "chai";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { IDDC__factory } from "../../typechain-types";

/** Every custom error of the core's interface is asserted by at least one test. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [readFileSync(path, "utf8")] : [];
  });
}

describe("custom error coverage", function () {
  it("asserts every custom error of IDDC with revertedWithCustomError somewhere in the tests", function () {
    const errors = IDDC__factory.abi.filter((item) => item.type === "error").map((item) => item.name);
    expect(errors.length).to.be.greaterThan(30);
    const text = sources(join(__dirname, "..")).join("\n");
    const asserted = new Set<string>();
    for (const match of text.matchAll(/revertedWithCustomError\(\s*[\w.]+,\s*"(\w+)"/g)) asserted.add(match[1]);
    // Errors asserted through a table (the access matrix, the replacement refusals) name the error
    // in a `name:` or `error:` field.
    for (const match of text.matchAll(/(?:name|error): "(\w+)"/g)) asserted.add(match[1]);
    const missing = errors.filter((name) => !asserted.has(name));
    expect(missing, `errors never asserted: ${missing.join(", ")}`).to.deep.equal([]);
  });
});
