/**
 * Handlebars helpers of the contracts reference's templates (solidity-docgen loads every function
 * exported here). They turn NatSpec into Markdown: `{Name}` and `{Contract.member}` references
 * become links to the item's section, custom tags (`@custom:access`, `emits`, `reverts`) become
 * lists, and signatures are printed as Solidity declares them.
 */

/** The parts of a solc AST node (with docgen's properties) the helpers read. */
interface Node {
  nodeType: string;
  name?: string;
  kind?: string;
  src?: string;
  visibility?: string;
  stateMutability?: string;
  constant?: boolean;
  mutability?: string;
  indexed?: boolean;
  storageLocation?: string;
  contractKind?: string;
  baseContracts?: { baseName: { name: string } }[];
  typeDescriptions?: { typeString?: string };
  typeName?: Node;
  value?: Node;
  parameters?: { parameters: Node[] };
  returnParameters?: { parameters: Node[] };
  underlyingType?: Node;
  members?: Node[];
  nodes?: Node[];
  natspec?: NatSpec;
  __item_context?: ItemContext;
}

interface NatSpec {
  title?: string;
  notice?: string;
  dev?: string;
  params?: { name: string; description: string }[];
  custom?: Record<string, string>;
}

interface ItemContext {
  page?: string;
  contract?: Node;
  file: { absolutePath: string };
  build: { input: { sources: Record<string, { content?: string }> } };
}

interface Page {
  id: string;
  items: Node[];
}

interface Site {
  items: Node[];
}

/** What Handlebars passes a helper last. */
interface Options {
  data: { site: Site; root: Page };
}

/** The order of the documented sources within a page (the rest of the order is the source's). */
const SOURCE_ORDER = [
  "contracts/interfaces/IDDCCore.sol",
  "contracts/interfaces/IDDCViews.sol",
  "contracts/interfaces/IDDCTypes.sol",
  "contracts/types/Ids.sol",
  "contracts/lens/DDCLens.sol",
  "contracts/governance/DDCGovernor.sol",
  "contracts/governance/DDCGovernanceToken.sol",
];

/** Titles of the pages that hold more than one contract or type. */
const PAGE_TITLES: Record<string, string> = {
  "IDDCViews.md": "IDDCViews and IDDC",
  "IDDCTypes.md": "Types: IDDCTypes and the ids",
  "governance.md": "Governance: DDCGovernor and DDCGovernanceToken",
};

// ─────────────────────────────────────────────── pages ────────────────────────────────────────────

/** The page's items, by source file then position (whatever order the compiler's output had). */
export function docSorted(items: Node[]): Node[] {
  const rank = (n: Node): [number, number] => {
    const file = n.__item_context?.file.absolutePath ?? "";
    const i = SOURCE_ORDER.indexOf(file);
    return [i === -1 ? SOURCE_ORDER.length : i, Number((n.src ?? "0").split(":")[0])];
  };
  return [...items].sort((a, b) => {
    const [fa, pa] = rank(a);
    const [fb, pb] = rank(b);
    return fa - fb || pa - pb;
  });
}

/** Whether the page documents one contract only (its heading is then the page's title). */
export function docSingle(page: Page): boolean {
  return page.items.length === 1 && page.items[0]?.nodeType === "ContractDefinition";
}

export function docPageTitle(page: Page): string {
  return PAGE_TITLES[page.id] ?? page.id.replace(/\.md$/, "");
}

/** Links to the page's source files. */
export function docSources(page: Page): string {
  const files = [...new Set(docSorted(page.items).map((n) => n.__item_context?.file.absolutePath ?? ""))];
  return files.map((f) => `[\`${f}\`](../../${f})`).join(", ");
}

// ────────────────────────────────────────────── members ───────────────────────────────────────────

/** A contract's members as the page shows them, by kind. */
export function docMembers(contract: Node): Record<string, Node[]> {
  const nodes = contract.nodes ?? [];
  const shown = (n: Node): boolean => n.visibility === "public" || n.visibility === "external";
  return {
    functions: nodes.filter(
      (n) => n.nodeType === "FunctionDefinition" && (n.kind === "constructor" || (n.kind === "function" && shown(n))),
    ),
    events: nodes.filter((n) => n.nodeType === "EventDefinition"),
    errors: nodes.filter((n) => n.nodeType === "ErrorDefinition"),
    structs: nodes.filter((n) => n.nodeType === "StructDefinition"),
    enums: nodes.filter((n) => n.nodeType === "EnumDefinition"),
    // A library's internal constants are part of its interface; other internal state is not.
    variables: nodes.filter(
      (n) => n.nodeType === "VariableDeclaration" && (shown(n) || (contract.contractKind === "library" && n.constant)),
    ),
  };
}

/** What kind of contract it is, where it is declared and what it inherits. */
export function docKindLine(this: Node, contract: Node, options: Options): string {
  const file = contract.__item_context?.file.absolutePath ?? "";
  const bases = (contract.baseContracts ?? []).map((b) => link(b.baseName.name, options, undefined));
  const inherits = bases.length > 0 ? ` · inherits ${bases.join(", ")}` : "";
  return `*${contract.contractKind ?? "contract"}* · [\`${file}\`](../../${file})${inherits}`;
}

/** Where a top-level type is declared. */
export function docDeclaredIn(item: Node): string {
  const file = item.__item_context?.file.absolutePath ?? "";
  return `[\`${file}\`](../../${file})`;
}

/** The heading of a member: its name; a constructor's names its contract (a page may hold two). */
export function docName(item: Node): string {
  if (item.nodeType === "FunctionDefinition" && item.kind !== "function") {
    const contract = item.__item_context?.contract?.name;
    return contract === undefined ? (item.kind ?? "") : `${item.kind} (${contract})`;
  }
  return item.name ?? "";
}

// ──────────────────────────────────────────── signatures ──────────────────────────────────────────

function typeOf(n: Node): string {
  return (n.typeDescriptions?.typeString ?? n.typeName?.typeDescriptions?.typeString ?? "")
    .replace(/\b(?:struct|enum|contract) /g, "")
    .replace(/ (?:storage ref|storage pointer|memory|calldata)\b/g, "");
}

/** A parameter's or a field's type, as Solidity writes it. */
export function docType(n: Node): string {
  return typeOf(n);
}

function declaration(n: Node): string {
  const parts = [typeOf(n)];
  if (n.storageLocation !== undefined && n.storageLocation !== "default") parts.push(n.storageLocation);
  if (n.indexed === true) parts.push("indexed");
  if (n.name) parts.push(n.name);
  return parts.join(" ");
}

function list(head: string, params: Node[], tail: string): string {
  const items = params.map(declaration);
  const flat = `${head}(${items.join(", ")})${tail}`;
  if (flat.length <= 100 || items.length === 0) return flat;
  return `${head}(\n${items.map((i) => `    ${i}`).join(",\n")}\n)${tail}`;
}

/** The declaration of a function, event or error, wrapped one parameter a line when long. */
export function docSignature(item: Node): string {
  const params = item.parameters?.parameters ?? [];
  switch (item.nodeType) {
    case "EventDefinition":
      return `${list(`event ${item.name}`, params, "")};`;
    case "ErrorDefinition":
      return `${list(`error ${item.name}`, params, "")};`;
    case "FunctionDefinition": {
      const returns = (item.returnParameters?.parameters ?? []).map(declaration);
      const modifiers = item.kind === "constructor" ? [] : [item.visibility ?? ""];
      if (item.stateMutability && item.stateMutability !== "nonpayable") modifiers.push(item.stateMutability);
      if (returns.length > 0) modifiers.push(`returns (${returns.join(", ")})`);
      const tail = `${modifiers.length > 0 ? " " : ""}${modifiers.join(" ")};`;
      return list(item.kind === "function" ? `function ${item.name}` : (item.kind ?? ""), params, tail);
    }
    case "UserDefinedValueTypeDefinition":
      return `type ${item.name} is ${typeOf(item.underlyingType ?? { nodeType: "" })};`;
    case "EnumDefinition":
      return `enum ${item.name} {\n${(item.members ?? []).map((m) => `    ${m.name}`).join(",\n")}\n}`;
    default:
      return "";
  }
}

/** The source text of a constant's value (`30 days`, `1 << 80`). */
export function docValue(item: Node): string {
  const ctx = item.__item_context;
  const src = item.value?.src;
  if (ctx === undefined || src === undefined) return "";
  const [start = 0, length = 0] = src.split(":").map(Number);
  const content = ctx.build.input.sources[ctx.file.absolutePath]?.content ?? "";
  return Buffer.from(content, "utf8")
    .subarray(start, start + length)
    .toString("utf8");
}

// ───────────────────────────────────────────── NatSpec ────────────────────────────────────────────

interface Target {
  page: string;
  anchor: string;
}

const targetsOfSite = new WeakMap<Site, Map<string, Target>>();

/** Where each documented item is: by name for top-level items, by `Contract.member` for members. */
function targets(site: Site): Map<string, Target> {
  let map = targetsOfSite.get(site);
  if (map !== undefined) return map;
  map = new Map();
  const memberPages = new Map<string, Target[]>();
  for (const top of site.items) {
    const page = top.__item_context?.page;
    if (page === undefined || top.name === undefined || top.__item_context?.contract !== undefined) continue;
    const self = { page, anchor: anchorOf(top.name) };
    map.set(top.name, self);
    if (top.nodeType !== "ContractDefinition") continue;
    const members = docMembers(top);
    for (const kind of ["functions", "events", "errors", "structs", "enums"]) {
      for (const m of members[kind] ?? []) {
        if (!m.name) continue;
        const target = { page, anchor: anchorOf(m.name) };
        map.set(`${top.name}.${m.name}`, target);
        memberPages.set(m.name, [...(memberPages.get(m.name) ?? []), target]);
      }
    }
    // Constants are rows of their contract's table: a reference goes to the contract.
    for (const v of members.variables ?? []) if (v.name) map.set(`${top.name}.${v.name}`, self);
  }
  // A member's bare name refers to it when no other documented member shares it.
  for (const [name, found] of memberPages) {
    if (found.length === 1 && !map.has(name)) map.set(name, found[0] as Target);
  }
  targetsOfSite.set(site, map);
  return map;
}

/** A heading's anchor, as GitHub makes it (the first heading of that text on its page). */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function link(ref: string, options: Options, contract: string | undefined): string {
  const map = targets(options.data.site);
  const target = (contract !== undefined ? map.get(`${contract}.${ref}`) : undefined) ?? map.get(ref);
  if (target === undefined) return `\`${ref}\``;
  const here = options.data.root.id;
  const href = target.page === here ? `#${target.anchor}` : `${target.page}#${target.anchor}`;
  return `[\`${ref}\`](${href})`;
}

/** NatSpec text as Markdown: `{Item}` references become links (or code, if not documented here). */
export function docMd(this: Node, text: unknown, options: Options): string {
  if (typeof text !== "string") return "";
  const contract =
    this?.__item_context?.contract?.name ?? (this?.nodeType === "ContractDefinition" ? this.name : undefined);
  return text
    .trim()
    .replace(/\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\}/g, (_m, ref: string) => link(ref, options, contract));
}

/** NatSpec text for a table cell: one line, pipes escaped. */
export function docCell(this: Node, text: unknown, options: Options): string {
  return docMd
    .call(this, text, options)
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|");
}

/** The first sentence of a text, for an index. */
export function docSummary(this: Node, text: unknown, options: Options): string {
  if (typeof text !== "string") return "";
  const flat = text.trim().replace(/\s*\n\s*/g, " ");
  const end = /(?<!\b(?:e\.g|i\.e|etc))\.(?=\s+[A-Z({`])/.exec(flat);
  return docCell.call(this, end === null ? flat : flat.slice(0, end.index + 1), options);
}

/**
 * The entries of a custom tag that lists things (`@custom:emits`, `@custom:reverts`): each entry is
 * a sentence, and the next one starts on a line that opens with a reference (`{Name}`) or a code
 * span; other lines continue the entry.
 */
export function docEntries(text: unknown): string[] {
  if (typeof text !== "string") return [];
  const entries: string[] = [];
  for (const line of text.trim().split("\n")) {
    const l = line.trim();
    if (l === "") continue;
    const last = entries[entries.length - 1];
    if (last === undefined || (/^[{`]/.test(l) && last.endsWith("."))) entries.push(l);
    else entries[entries.length - 1] += ` ${l}`;
  }
  return entries;
}

/** The description of a struct's field (its `@param` in the struct's NatSpec). */
export function docField(natspec: NatSpec | undefined, name: string): string {
  return natspec?.params?.find((p) => p.name === name)?.description ?? "";
}

/** Whether a list is not empty. */
export function docAny(list: unknown): boolean {
  return Array.isArray(list) && list.length > 0;
}

/** The anchor of a member's heading. */
export function docAnchor(name: unknown): string {
  return typeof name === "string" ? anchorOf(name) : "";
}

/** A contract's title, unless it only repeats the contract's name. */
export function docTitle(contract: Node): string {
  const title = contract.natspec?.title ?? "";
  return title === contract.name ? "" : title;
}
