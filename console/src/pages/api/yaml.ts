// A small YAML reader for the one document the API reference shows: gateway/openapi.yaml, which
// `make gen` writes with PyYAML's safe_dump (gateway/generate.py). That emitter uses a narrow part of
// YAML — block mappings and sequences, plain / single-quoted / double-quoted scalars (quoted ones may
// fold over lines), and `{}` / `[]` for empty collections — so ~150 lines replace a 100 kB YAML
// library in the reference's chunk. Anything outside that subset (anchors, block scalars, non-empty
// flow collections, tags) is refused with the line number instead of being misread.
// tests/console/test_ops_pages.py parses the real document with this and with PyYAML and compares.

export type Yaml = null | boolean | number | string | Yaml[] | { [key: string]: Yaml };

interface Line {
  indent: number;
  text: string;
  n: number;
}

export class YamlError extends Error {
  constructor(line: number, message: string) {
    super(`openapi.yaml line ${line}: ${message}`);
  }
}

export function parseYaml(source: string): Yaml {
  const raw = source.split(/\r?\n/);
  const lines: Line[] = raw.map((l, i) => {
    const text = l.trimStart();
    return { indent: l.length - text.length, text: text.trimEnd(), n: i + 1 };
  });
  let at = 0;

  /** The next line holding content (not blank, not a comment), without consuming it. */
  function peek(): Line | null {
    while (at < lines.length) {
      const l = lines[at]!;
      if (l.text !== "" && !l.text.startsWith("#")) return l;
      at++;
    }
    return null;
  }

  function isItem(text: string): boolean {
    return text === "-" || text.startsWith("- ");
  }

  function block(indent: number): Yaml {
    const l = peek();
    if (!l || l.indent < indent) return null;
    return isItem(l.text) ? sequence(l.indent) : mapping(l.indent);
  }

  function sequence(indent: number): Yaml[] {
    const out: Yaml[] = [];
    for (let l = peek(); l && l.indent === indent && isItem(l.text); l = peek()) {
      const rest = l.text.slice(1).trimStart();
      if (rest === "") {
        at++;
        out.push(block(indent + 1));
      } else if (keyOf(rest, l.n) !== null || isItem(rest)) {
        // "- key: value" opens a mapping whose later keys sit two columns in: read the item's first
        // line as if it were at that column.
        lines[at] = { indent: indent + 2, text: rest, n: l.n };
        out.push(block(indent + 2));
      } else {
        at++;
        out.push(scalar(rest, l));
      }
    }
    return out;
  }

  function mapping(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    for (let l = peek(); l && l.indent === indent && !isItem(l.text); l = peek()) {
      const key = keyOf(l.text, l.n);
      if (key === null) throw new YamlError(l.n, `expected "key: value", found ${JSON.stringify(l.text)}`);
      at++;
      const rest = l.text.slice(key.end).trimStart();
      if (rest === "") {
        const next = peek();
        // PyYAML writes a mapping's sequence at the key's own column ("tags:\n- a").
        if (next && (next.indent > indent || (next.indent === indent && isItem(next.text)))) {
          out[key.key] = next.indent > indent ? block(next.indent) : sequence(indent);
        } else {
          out[key.key] = null;
        }
      } else {
        out[key.key] = scalar(rest, l);
      }
    }
    return out;
  }

  /** The key of a "key: value" or "key:" line and where its value starts; null when it is not one. */
  function keyOf(text: string, n: number): { key: string; end: number } | null {
    if (text.startsWith("'") || text.startsWith('"')) {
      const { value, end } = quoted(text, 0, n);
      if (text[end] === ":" && (end + 1 === text.length || text[end + 1] === " ")) return { key: value, end: end + 1 };
      return null;
    }
    // A plain key runs to the first ": " (or a final ":"); a path key like /v1/auth:login has colons.
    const m = /^((?:[^\s#'"[{&*!|>%@`-]|-\S).*?):(?: |$)/.exec(text);
    return m ? { key: m[1]!, end: m[1]!.length + 1 } : null;
  }

  /** A quoted scalar on one line starting at `start`: its value and the index after its closing quote. */
  function quoted(text: string, start: number, n: number): { value: string; end: number } {
    const q = text[start];
    let value = "";
    for (let i = start + 1; i < text.length; i++) {
      const c = text[i]!;
      if (q === "'" && c === "'") {
        if (text[i + 1] === "'") {
          value += "'";
          i++;
          continue;
        }
        return { value, end: i + 1 };
      }
      if (q === '"' && c === '"') return { value, end: i + 1 };
      if (q === '"' && c === "\\") {
        const { ch, len } = escape(text, i, n);
        value += ch;
        i += len - 1;
        continue;
      }
      value += c;
    }
    throw new YamlError(n, "unterminated quoted key");
  }

  function escape(text: string, i: number, n: number): { ch: string; len: number } {
    const e = text[i + 1];
    const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0", a: "\x07", b: "\b", v: "\v", f: "\f", '"': '"', "\\": "\\", "/": "/", " ": " ", e: "\x1b", N: "\x85", _: "\xa0", L: "\u2028", P: "\u2029" };
    if (e !== undefined && e in simple) return { ch: simple[e]!, len: 2 };
    const width = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    if (width) {
      const hex = text.slice(i + 2, i + 2 + width);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== width) throw new YamlError(n, `bad escape \\${e}${hex}`);
      return { ch: String.fromCodePoint(parseInt(hex, 16)), len: 2 + width };
    }
    throw new YamlError(n, `unknown escape \\${e}`);
  }

  /** A value: the rest of line `l` after its key or "- ", and (for a quoted scalar) the lines it folds over. */
  function scalar(rest: string, l: Line): Yaml {
    if (rest.startsWith("'") || rest.startsWith('"')) return foldedQuoted(rest, l);
    if (rest === "{}") return {};
    if (rest === "[]") return [];
    if (/^[[{&*!|>]/.test(rest)) throw new YamlError(l.n, `unsupported YAML: ${JSON.stringify(rest.slice(0, 20))}`);
    if (rest === "null" || rest === "~") return null;
    if (rest === "true") return true;
    if (rest === "false") return false;
    if (/^[-+]?\d+$/.test(rest)) return Number(rest);
    if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(rest)) return Number(rest);
    return rest;
  }

  /**
   * A quoted scalar that may continue on the following lines. YAML folds a line break into a space, and
   * n blank lines into n newlines; a double-quoted line ending in "\" joins without a space.
   */
  function foldedQuoted(rest: string, l: Line): string {
    const q = rest[0]!;
    let text = rest;
    let i = 1;
    let value = "";
    let lineNo = l.n;
    for (;;) {
      for (; i < text.length; i++) {
        const c = text[i]!;
        if (c === q) {
          if (q === "'" && text[i + 1] === "'") {
            value += "'";
            i++;
            continue;
          }
          const tail = text.slice(i + 1).trim();
          if (tail !== "" && !tail.startsWith("#")) throw new YamlError(lineNo, `text after a quoted value: ${tail}`);
          return value;
        }
        if (q === '"' && c === "\\") {
          if (i === text.length - 1) break; // an escaped line break: joined without a space
          const { ch, len } = escape(text, i, lineNo);
          value += ch;
          i += len - 1;
          continue;
        }
        value += c;
      }
      const joined = q === '"' && text.endsWith("\\") && !text.endsWith("\\\\");
      // The value goes on: raw lines, blank ones counted (comments do not exist inside quotes).
      let blanks = 0;
      for (;;) {
        if (at >= lines.length) throw new YamlError(l.n, "unterminated quoted value");
        const next = raw[at]!;
        at++;
        if (next.trim() === "") {
          blanks++;
          continue;
        }
        text = next.trim();
        lineNo = at;
        break;
      }
      if (!joined) value = value.replace(/[ \t]+$/, "");
      value += blanks > 0 ? "\n".repeat(blanks) : joined ? "" : " ";
      i = 0;
    }
  }

  // `at` starts on the first line of the document; scalars advance it themselves, so the line that
  // holds a quoted value's start has been consumed before it is read on.
  const doc = block(0);
  const left = peek();
  if (left) throw new YamlError(left.n, `unexpected ${JSON.stringify(left.text)} at indent ${left.indent}`);
  return doc;
}
