import path from "node:path";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { headingAnchors } from "./docs";

/**
 * The documentation's links (`npm run lint:docs`): README.md and every page under docs/, the
 * generated contracts reference included. Every relative link must name a file of the repository,
 * every `#anchor` a heading of its page (GitHub's slugs: lower case, punctuation but `-` and `_`
 * dropped, spaces to `-`, a repeated heading numbered `-1`, `-2`…), and no link may leave the
 * repository: the manual is read offline, at the commit it describes. Code blocks and code spans
 * are not links, so an example URL (`http://127.0.0.1:8545`) belongs in one.
 */

/** One problem, at the line of the page where the link is written. */
export interface LinkProblem {
  /** The page, relative to the repository's root, with `/` separators. */
  file: string;
  /** 1-based. */
  line: number;
  message: string;
}

/** A problem as `file:line: message`, the form editors and CI logs make clickable. */
export function formatProblem(p: LinkProblem): string {
  return `${p.file}:${p.line}: ${p.message}`;
}

/** The pages checked: README.md and docs/**\/*.md, sorted, relative to `root`. */
export function documentationPages(root: string): string[] {
  const pages: string[] = [];
  if (existsSync(path.join(root, "README.md"))) pages.push("README.md");
  const walk = (dir: string): void => {
    const full = path.join(root, dir);
    if (!existsSync(full)) return;
    for (const entry of readdirSync(full, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith(".md")) pages.push(rel);
    }
  };
  walk("docs");
  return pages;
}

/** A link's target as written, and where. */
interface Link {
  target: string;
  line: number;
}

/**
 * The links of a page outside code: inline links and images, reference definitions, autolinks,
 * HTML `href`/`src`, and bare web addresses (which GitHub turns into links).
 */
export function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  let fence: string | undefined;
  markdown.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const opener = /^\s{0,3}(`{3,}|~{3,})/.exec(raw);
    if (fence !== undefined) {
      if (opener !== null && opener[1]!.startsWith(fence)) fence = undefined;
      return;
    }
    if (opener !== null) {
      fence = opener[1]!;
      return;
    }
    const text = withoutCodeSpans(raw);
    const found: string[] = [];
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) found.push(m[1] ?? "");
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(text);
    if (definition !== null) found.push(definition[1] ?? "");
    for (const m of text.matchAll(/<([a-z][a-z0-9+.-]*:[^>\s]*)>/gi)) found.push(m[1] ?? "");
    for (const m of text.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/gi)) found.push(m[1] ?? "");
    // A bare address GitHub would link, unless it is the target of a link found above.
    const targets = [...found];
    for (const m of text.matchAll(/(?:\bhttps?:\/\/|\bwww\.)[^\s<>()[\]"'`]+/gi)) {
      const address = m[0].replace(/[.,;:!?*_~]+$/, "");
      if (!targets.some((t) => t.includes(address))) found.push(address);
    }
    for (const target of found) links.push({ target, line });
  });
  return links;
}

/** A line with its code spans blanked (`` `a|b` ``, ``` ``x`` ```), so nothing in them counts. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (m) => " ".repeat(m.length));
}

/** Checks the links of `pages` (default: {@link documentationPages}) under `root`. */
export function checkLinks(root: string, pages: string[] = documentationPages(root)): LinkProblem[] {
  const problems: LinkProblem[] = [];
  const anchors = new Map<string, Set<string>>();
  const anchorsOf = (file: string): Set<string> => {
    let found = anchors.get(file);
    if (found === undefined) {
      found = headingAnchors(readFileSync(file, "utf8")).all;
      anchors.set(file, found);
    }
    return found;
  };
  for (const page of pages) {
    const file = path.join(root, page);
    for (const { target, line } of linksOf(readFileSync(file, "utf8"))) {
      const problem = (message: string): void => {
        problems.push({ file: page, line, message });
      };
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//") || /^www\./i.test(target)) {
        problem(`link outside the repository: ${target}`);
        continue;
      }
      if (target === "") {
        problem("empty link");
        continue;
      }
      const hash = target.indexOf("#");
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? undefined : target.slice(hash + 1);
      let resolved: string;
      try {
        resolved = pathPart === "" ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
      } catch {
        problem(`link with a malformed path: ${target}`);
        continue;
      }
      const relative = path.relative(root, resolved);
      if (relative.startsWith("..") || path.isAbsolute(relative)) {
        problem(`link outside the repository: ${target}`);
        continue;
      }
      if (!existsSync(resolved)) {
        problem(`link to a missing file: ${target}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith(".md")) {
        problem(`anchor on a file that is not a Markdown page: ${target}`);
        continue;
      }
      if (!anchorsOf(resolved).has(anchor)) problem(`link to a missing heading: ${target}`);
    }
  }
  return problems;
}

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const pages = documentationPages(root);
  const problems = checkLinks(root, pages);
  for (const p of problems) console.error(formatProblem(p));
  if (problems.length > 0) {
    console.error(`${problems.length} broken link(s) in the documentation`);
    process.exitCode = 1;
  } else {
    console.log(`${pages.length} pages: every link stays in the repository and reaches its file and heading`);
  }
}
