import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { checkLinks, documentationPages, formatProblem, linksOf } from "../../scripts/check-links";

/** A repository of a few pages in a temporary directory. */
function repository(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "ddc-links-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

describe("scripts/check-links", () => {
  const roots: string[] = [];
  const make = (files: Record<string, string>): string => {
    const root = repository(files);
    roots.push(root);
    return root;
  };
  after(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it("reports a missing file, a dead anchor and an outside link, each at its file and line", () => {
    const root = make({
      "README.md": "# DDC\n\nSee [the manual](docs/README.md).\n\n[the design](docs/design.md#the-design)\n",
      "docs/README.md": "# The manual\n\n- [Money](money.md#ledgers)\n- [Design](design.md#the-designs)\n",
      "docs/design.md": "# The design\n\nText.\n\nMore on [the web](https://example.org/ddc).\n",
    });
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([
      "docs/README.md:3: link to a missing file: money.md#ledgers",
      "docs/README.md:4: link to a missing heading: design.md#the-designs",
      "docs/design.md:5: link outside the repository: https://example.org/ddc",
    ]);
    const sameFile = make({
      "README.md": "# DDC\n\n## Where to go next\n\n[next](#where-to-go-next) [gone](#contents)\n",
    });
    expect(checkLinks(sameFile).map(formatProblem)).to.deep.equal([
      "README.md:5: link to a missing heading: #contents",
    ]);
  });

  it("makes GitHub's slugs: lower case, punctuation dropped but - and _, repeated headings numbered", () => {
    const root = make({
      "README.md": [
        "# The `ddc` CLI",
        "## A validator's reports: `ddc validator`",
        "## Revenue: distribution and claims",
        "## snake_case and kebab-case",
        "## Notes",
        "## Notes",
        "## Notes",
        "",
        "[a](#the-ddc-cli) [b](#a-validators-reports-ddc-validator) [c](#revenue-distribution-and-claims)",
        "[d](#snake_case-and-kebab-case) [e](#notes) [f](#notes-1) [g](#notes-2)",
        "[h](#notes-3) [i](#A-validators-reports-ddc-validator) [j](#revenue:-distribution-and-claims)",
        "",
      ].join("\n"),
    });
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([
      "README.md:11: link to a missing heading: #notes-3",
      "README.md:11: link to a missing heading: #A-validators-reports-ddc-validator",
      "README.md:11: link to a missing heading: #revenue:-distribution-and-claims",
    ]);
  });

  it("checks anchors in other pages, and accepts links to directories and to files that are not Markdown", () => {
    const root = make({
      "README.md": "# DDC\n\n[ops](docs/operations.md#alerts) [bad](docs/operations.md#alarms) [t](docs/templates)\n",
      "docs/operations.md": "# Operations\n\n## Alerts\n\n[up](../README.md#ddc) [pkg](../package.json)\n",
      "docs/templates/page.hbs": "{{page}}\n",
      "package.json": "{}\n",
    });
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([
      "README.md:3: link to a missing heading: docs/operations.md#alarms",
    ]);
  });

  it("refuses every way out of the repository: schemes, bare addresses, paths above the root", () => {
    const root = make({
      "README.md": [
        "# DDC",
        "[a](http://example.org) [b](mailto:x@example.org) [c](//example.org/x)",
        "Read www.example.org or https://example.org/plain today.",
        "<https://example.org/auto> and [d](../outside.md)",
        '<a href="https://example.org/html">e</a>',
        "[ref]: https://example.org/ref",
        "",
      ].join("\n"),
    });
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([
      "README.md:2: link outside the repository: http://example.org",
      "README.md:2: link outside the repository: mailto:x@example.org",
      "README.md:2: link outside the repository: //example.org/x",
      "README.md:3: link outside the repository: www.example.org",
      "README.md:3: link outside the repository: https://example.org/plain",
      "README.md:4: link outside the repository: ../outside.md",
      "README.md:4: link outside the repository: https://example.org/auto",
      "README.md:5: link outside the repository: https://example.org/html",
      "README.md:6: link outside the repository: https://example.org/ref",
    ]);
  });

  it("ignores code: fenced blocks, code spans, and headings inside fences", () => {
    const text = [
      "# Page",
      "",
      "Run `ddc validator submit signed.json --to http://127.0.0.1:8080` or ``[x](missing.md)``.",
      "",
      "```sh",
      "curl http://localhost:9464/metrics   # [y](nowhere.md)",
      "# not a heading",
      "```",
      "",
      "~~~",
      "[z](gone.md)",
      "~~~",
      "",
      "[real](#not-a-heading)",
      "",
    ].join("\n");
    expect(linksOf(text)).to.deep.equal([{ target: "#not-a-heading", line: 14 }]);
    const root = make({ "README.md": text });
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([
      "README.md:14: link to a missing heading: #not-a-heading",
    ]);
  });

  it("checks README.md and every page under docs/, the generated reference included", () => {
    const root = make({
      "README.md": "# R\n",
      "docs/b.md": "# B\n",
      "docs/a.md": "# A\n",
      "docs/contracts/IDDCCore.md": "# IDDCCore\n",
      "docs/templates/page.hbs": "x\n",
      "other/notes.md": "[out](https://example.org)\n",
    });
    expect(documentationPages(root)).to.deep.equal([
      "README.md",
      "docs/a.md",
      "docs/b.md",
      "docs/contracts/IDDCCore.md",
    ]);
  });

  it("finds nothing wrong in the repository's own documentation", () => {
    const root = path.resolve(__dirname, "..", "..");
    expect(checkLinks(root).map(formatProblem)).to.deep.equal([]);
  });
});
