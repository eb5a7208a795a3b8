/**
 * robots.txt, as RFC 9309 defines it: which URLs of a site a crawler with a given user agent may
 * fetch. {@linkcode parseRobots} reads a robots.txt file into the {@linkcode RobotsRules} for one
 * user agent; `cache.ts` beside this file fetches each origin's once.
 *
 * @module
 */

/** One `Allow` or `Disallow` line of a robots.txt file. */
export interface RobotsRule {
  /** `true` for `Allow`, `false` for `Disallow`. */
  allow: boolean;
  /** The path pattern as written, e.g. `/private/*.png$`. */
  path: string;
}

/** A rule ready for matching. */
interface CompiledRule {
  rule: RobotsRule;
  /** The normalized pattern, without a final `$`. */
  pattern: string;
  /** The pattern ended with `$`: the whole path must match, not just its start. */
  anchored: boolean;
  /** The pattern holds a `*`. */
  wildcard: boolean;
  /** Octets of the normalized pattern, `$` included: the longest match wins. */
  length: number;
}

/** Octets that stand for themselves when percent-encoded: ALPHA, DIGIT, `-`, `.`, `_`, `~`. */
const UNRESERVED = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code);
  if (/[A-Za-z0-9\-._~]/.test(char)) UNRESERVED[code] = 1;
}

const HEX_DIGITS = "0123456789ABCDEF";
const ENCODER = new TextEncoder();

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Normalizes a path (or a pattern) for comparison, as RFC 9309 section 2.2.2 asks: characters
 * outside printable ASCII are percent-encoded as UTF-8, escapes of unreserved characters are
 * decoded, and the other escapes get uppercase hex digits.
 */
function normalize(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 || code <= 0x20 || code >= 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      const high = hexValue(text.charCodeAt(i + 1));
      const low = hexValue(text.charCodeAt(i + 2));
      if (high >= 0 && low >= 0) {
        const byte = high * 16 + low;
        out += byte < 128 && UNRESERVED[byte]
          ? String.fromCharCode(byte)
          : "%" + HEX_DIGITS[high] + HEX_DIGITS[low];
        i += 2;
      } else {
        out += "%";
      }
    } else if (code <= 0x20 || code >= 0x7f) {
      const point = text.codePointAt(i)!;
      if (point > 0xffff) i++;
      // A lone surrogate encodes as U+FFFD.
      for (const byte of ENCODER.encode(String.fromCodePoint(point))) {
        out += "%" + HEX_DIGITS[byte >> 4] + HEX_DIGITS[byte & 15];
      }
    } else {
      out += text[i];
    }
  }
  return out;
}

/**
 * Matches `pattern`, where `*` stands for any characters, against the start of `text` (all of
 * it when `anchored`). Backtracks only to the last `*`, so it takes at most
 * `pattern.length * text.length` steps, whatever the pattern.
 */
function globMatch(pattern: string, text: string, anchored: boolean): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  for (;;) {
    if (p === pattern.length) {
      if (!anchored || t === text.length) return true;
    } else if (pattern.charCodeAt(p) === 0x2a) {
      star = p++;
      mark = t;
      continue;
    } else if (t < text.length && pattern.charCodeAt(p) === text.charCodeAt(t)) {
      p++;
      t++;
      continue;
    }
    if (star === -1 || mark >= text.length) return false;
    p = star + 1;
    t = ++mark;
  }
}

/**
 * A normalized URL path with its `*` and `$` percent-encoded: in a pattern those two are special,
 * and a pattern names them literally as %2A and %24 (RFC 9309 section 2.2.3).
 */
function literals(path: string): string {
  return path.includes("*") || path.includes("$")
    ? path.replaceAll("*", "%2A").replaceAll("$", "%24")
    : path;
}

function compile(rule: RobotsRule): CompiledRule {
  const normalized = normalize(rule.path);
  const anchored = normalized.endsWith("$");
  // A `$` anywhere but at the end is a literal character, as its encoding %24 is; the URL's
  // own `*` and `$` are compared in their encoded form too (see `literals`).
  const pattern = (anchored ? normalized.slice(0, -1) : normalized).replaceAll("$", "%24");
  return {
    rule,
    pattern,
    anchored,
    wildcard: pattern.includes("*"),
    length: normalized.length,
  };
}

/**
 * The rules of a robots.txt file that apply to one user agent.
 *
 * A URL's path and query are matched against every rule; the rule with the longest pattern
 * decides, and `Allow` wins a tie. A URL that no rule matches is allowed, and so is
 * `/robots.txt` itself.
 *
 * @example
 * ```ts
 * import { RobotsRules } from "./rules.ts";
 * import assert from "node:assert/strict";
 *
 * const rules = new RobotsRules([
 *   { allow: false, path: "/private" },
 *   { allow: true, path: "/private/public" },
 * ]);
 * assert.equal(rules.allows(new URL("https://example.com/private/x.png")), false);
 * assert.equal(rules.allows(new URL("https://example.com/private/public/x.png")), true);
 * assert.deepEqual(rules.match(new URL("https://example.com/private/x.png")), {
 *   allow: false,
 *   path: "/private",
 * });
 * ```
 */
export class RobotsRules {
  /** The `Crawl-delay` of the matching group, in seconds, if it gave one. */
  readonly crawlDelay?: number;
  #rules: CompiledRule[];

  /**
   * Makes rules from a list; with none, everything is allowed.
   *
   * @param rules The `Allow` and `Disallow` lines, in any order. Empty paths are ignored.
   * @param crawlDelay The `Crawl-delay` in seconds: a finite number >= 0, or `undefined`.
   * @throws {TypeError} When `rules` is not an array of rules.
   * @throws {RangeError} When `crawlDelay` is negative or not finite.
   */
  constructor(rules: readonly RobotsRule[] = [], crawlDelay?: number) {
    if (!Array.isArray(rules)) {
      throw new TypeError(`Cannot make robots.txt rules: expected an array, got ${typeof rules}`);
    }
    this.#rules = [];
    for (const rule of rules) {
      if (typeof rule?.allow !== "boolean" || typeof rule.path !== "string") {
        throw new TypeError(
          `Cannot make robots.txt rules: expected { allow: boolean, path: string }, got ${
            JSON.stringify(rule)
          }`,
        );
      }
      if (rule.path !== "") this.#rules.push(compile({ allow: rule.allow, path: rule.path }));
    }
    if (crawlDelay !== undefined) {
      if (typeof crawlDelay !== "number" || !(crawlDelay >= 0) || crawlDelay === Infinity) {
        throw new RangeError(
          `Cannot make robots.txt rules: 'crawlDelay' must be a finite number of seconds >= 0, got ${
            String(crawlDelay)
          }`,
        );
      }
      this.crawlDelay = crawlDelay;
    }
  }

  /**
   * Finds the rule that decides a URL: of the rules whose pattern matches the URL's path and
   * query, the one with the longest pattern, `Allow` before `Disallow` on a tie.
   *
   * @param url The URL; its origin is not looked at.
   * @returns The deciding rule, or `undefined` when none matches (or the URL is `/robots.txt`).
   */
  match(url: URL): RobotsRule | undefined {
    if (url.pathname === "/robots.txt") return undefined;
    const target = literals(normalize(url.pathname + url.search));
    let best: CompiledRule | undefined;
    for (const compiled of this.#rules) {
      if (
        best &&
        (compiled.length < best.length ||
          (compiled.length === best.length && (best.rule.allow || !compiled.rule.allow)))
      ) {
        continue; // it could not win anyway
      }
      const matched = compiled.wildcard
        ? globMatch(compiled.pattern, target, compiled.anchored)
        : compiled.anchored
        ? target === compiled.pattern
        : target.startsWith(compiled.pattern);
      if (matched) best = compiled;
    }
    return best && { ...best.rule };
  }

  /**
   * Tells whether a URL may be fetched.
   *
   * @param url The URL; its origin is not looked at.
   * @returns `false` when the deciding rule is a `Disallow`, else `true`.
   */
  allows(url: URL): boolean {
    return this.match(url)?.allow ?? true;
  }
}

/** The product token of a user agent or a `User-agent` line: leading letters, `_` and `-`. */
function productToken(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith("*")) return "*";
  return /^[A-Za-z_-]*/.exec(trimmed)![0].toLowerCase();
}

/** Keys RFC 9309 names, and common misspellings of them, which crawlers should accept. */
const USER_AGENT_KEYS = new Set(["user-agent", "useragent", "user agent"]);
const ALLOW_KEYS = new Set(["allow"]);
const DISALLOW_KEYS = new Set([
  "disallow",
  "dissallow",
  "dissalow",
  "disalow",
  "diasllow",
  "disallaw",
]);
const CRAWL_DELAY_KEYS = new Set(["crawl-delay", "crawldelay", "crawl delay"]);

interface Group {
  agents: string[];
  rules: RobotsRule[];
  crawlDelay?: number;
}

/**
 * Parses a robots.txt file and keeps the rules for one user agent, as RFC 9309 says:
 *
 * - Lines are grouped by runs of `User-agent` lines; lines before the first are ignored, and so
 *   are unknown keys and `Sitemap`.
 * - The groups whose `User-agent` is our product token (e.g. `downpour` for
 *   `downpour/0.1.0`), compared without case, apply, all of them merged; when there is none,
 *   the `User-agent: *` groups apply; when there is none of those either, everything is allowed.
 * - `Allow` and `Disallow` patterns may hold `*` (any characters) and end with `$` (end of the
 *   URL); an empty `Disallow` allows everything. Patterns not starting with `/` or `*` are
 *   ignored.
 * - `Crawl-delay` (not in the RFC, but common) is kept: the largest one in the matching groups.
 *
 * @param text The file's text. Comments (`#`), CR/LF/CRLF line ends and a byte order mark are
 * fine.
 * @param userAgent Our user agent, e.g. `downpour/0.1.0`; its product token picks the group.
 * @returns The rules for `userAgent`.
 * @throws {TypeError} When `text` or `userAgent` is not a string.
 *
 * @example
 * ```ts
 * import { parseRobots } from "./rules.ts";
 * import assert from "node:assert/strict";
 *
 * const rules = parseRobots(
 *   [
 *     "User-agent: *",
 *     "Disallow: /",
 *     "",
 *     "User-agent: Downpour",
 *     "Disallow: /private/",
 *     "Disallow: /*.gif$",
 *     "Crawl-delay: 2",
 *   ].join("\n"),
 *   "downpour/0.1.0",
 * );
 * assert.equal(rules.allows(new URL("https://example.com/cats/tabby.png")), true);
 * assert.equal(rules.allows(new URL("https://example.com/private/cat.png")), false);
 * assert.equal(rules.allows(new URL("https://example.com/cats/funny.gif")), false);
 * assert.equal(rules.allows(new URL("https://example.com/cats/funny.gif?v=2")), true);
 * assert.equal(rules.crawlDelay, 2);
 * ```
 */
export function parseRobots(text: string, userAgent: string): RobotsRules {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot parse robots.txt: expected a string, got ${typeof text}`);
  }
  if (typeof userAgent !== "string") {
    throw new TypeError(
      `Cannot parse robots.txt: 'userAgent' must be a string, got ${typeof userAgent}`,
    );
  }
  const ours = productToken(userAgent);
  const groups: Group[] = [];
  let group: Group | undefined;
  let readingAgents = false;
  for (let line of text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/)) {
    const hash = line.indexOf("#");
    if (hash !== -1) line = line.slice(0, hash);
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim().toLowerCase().replace(/\s+/g, " ");
    const value = line.slice(colon + 1).trim();
    if (USER_AGENT_KEYS.has(key)) {
      if (!group || !readingAgents) {
        group = { agents: [], rules: [] };
        groups.push(group);
        readingAgents = true;
      }
      group.agents.push(productToken(value));
    } else if (ALLOW_KEYS.has(key) || DISALLOW_KEYS.has(key)) {
      if (!group) continue;
      readingAgents = false;
      if (value.startsWith("/") || value.startsWith("*")) {
        group.rules.push({ allow: ALLOW_KEYS.has(key), path: value });
      }
    } else if (CRAWL_DELAY_KEYS.has(key)) {
      if (!group) continue;
      readingAgents = false;
      const delay = /^\d+(?:\.\d+)?$/.test(value) ? Number(value) : NaN;
      if (Number.isFinite(delay)) group.crawlDelay = Math.max(group.crawlDelay ?? 0, delay);
    }
  }
  let chosen = ours === "" ? [] : groups.filter((g) => g.agents.includes(ours));
  if (chosen.length === 0) chosen = groups.filter((g) => g.agents.includes("*"));
  const delays = chosen.flatMap((g) => g.crawlDelay === undefined ? [] : [g.crawlDelay]);
  return new RobotsRules(
    chosen.flatMap((g) => g.rules),
    delays.length === 0 ? undefined : Math.max(...delays),
  );
}
