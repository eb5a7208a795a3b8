/**
 * File names for downloads: a requested URL becomes a safe, stable file name, unique within a
 * run, in a way that costs about a microsecond and a few bytes per URL.
 *
 * - {@linkcode baseName} takes the last segment of the requested URL's path.
 * - {@linkcode sanitizeName} makes any text a safe file name on Linux, macOS and Windows.
 * - {@linkcode NameAllocator} hands out names that never collide, and spots repeated URLs.
 * - {@linkcode stableHash} is the 64-bit hash behind the suffixes that keep names apart.
 *
 * Names are plain file names, never paths: they hold no separator, so they cannot leave the
 * output directory, and they never start with a dot.
 *
 * @module
 */

/** The most UTF-8 bytes a name may take; file systems allow 255, and suffixes need room. */
const MAX_BYTES = 200;

/** The most UTF-8 bytes (dot included) an extension may take and still be kept when cutting. */
const MAX_EXT_BYTES = 16;

/** ASCII characters replaced with `_`: separators, and characters reserved on Windows. */
const RESERVED_ASCII = new Uint8Array(128);
for (const char of '/\\<>:"|?*') RESERVED_ASCII[char.charCodeAt(0)] = 1;

/** Windows device names, reserved with or without an extension, in any case. */
const DEVICE = /^(?:con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³]|conin\$|conout\$)$/i;

/**
 * Returns the file name for a requested URL: its last non-empty path segment, percent-decoded
 * (a malformed escape is kept as it is), then made safe by {@linkcode sanitizeName}. The query
 * and fragment are ignored; a URL without a path segment gives `"index"`.
 *
 * Only the requested URL matters: redirect targets and `Content-Disposition` never name a file.
 *
 * @param url The requested URL.
 * @returns A safe file name, never empty.
 * @throws {TypeError} When `url` is not a `URL`.
 *
 * @example
 * ```ts
 * import { baseName } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(baseName(new URL("https://example.com/cats/tabby%20cat.png?size=2")), "tabby cat.png");
 * assert.equal(baseName(new URL("https://example.com/cats/")), "cats");
 * assert.equal(baseName(new URL("https://example.com/")), "index");
 * assert.equal(baseName(new URL("https://example.com/..%2f..%2fetc%2fpasswd")), "_.._etc_passwd");
 * ```
 */
export function baseName(url: URL): string {
  if (!(url instanceof URL)) {
    throw new TypeError(`Cannot name a file: expected a URL, got ${typeof url}`);
  }
  const path = url.pathname;
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  if (end === 0) return "index";
  const segment = path.slice(path.lastIndexOf("/", end - 1) + 1, end);
  const name = sanitizeName(segment.includes("%") ? percentDecode(segment) : segment);
  return name;
}

const ENCODER = new TextEncoder();

/** Decodes `%XX` escapes as UTF-8; malformed escapes stay as they are, bad UTF-8 becomes U+FFFD. */
function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Some escape is malformed or not UTF-8: decode byte by byte instead.
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 && i + 2 < text.length && isHex(text, i + 1) && isHex(text, i + 2)) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      // The path of a parsed URL is ASCII, but be correct for any text.
      const point = text.codePointAt(i)!;
      if (point > 0xffff) i++;
      bytes.push(...ENCODER.encode(String.fromCodePoint(point)));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function isHex(text: string, index: number): boolean {
  const code = text.charCodeAt(index) | 0x20;
  return (code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66);
}

/**
 * Makes any text a safe file name on Linux, macOS and Windows:
 *
 * - Unicode is normalized to NFC.
 * - `/`, `\` and the characters reserved on Windows (`<>:"|?*`) become `_`.
 * - Control characters (C0 with NUL, DEL, C1) and bidirectional overrides are removed; a lone
 *   surrogate becomes U+FFFD.
 * - Leading and trailing dots and spaces are removed, so the name is never `.`, `..` or hidden.
 * - A Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9`, in any case,
 *   with or without an extension) gets a `_` in front.
 * - The name is cut to at most 200 UTF-8 bytes, at a code point boundary, keeping its extension
 *   (when that is at most 16 bytes).
 * - An empty result becomes `"file"`.
 *
 * @param name Any text, e.g. a decoded URL segment or a name given by the user.
 * @returns A safe, non-empty file name that does not start with a dot.
 * @throws {TypeError} When `name` is not a string.
 *
 * @example
 * ```ts
 * import { sanitizeName } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sanitizeName("../secret.png"), "_secret.png");
 * assert.equal(sanitizeName('a:b*c?.png'), "a_b_c_.png");
 * assert.equal(sanitizeName("con.txt"), "_con.txt");
 * assert.equal(sanitizeName(" .. "), "file");
 * assert.equal(new TextEncoder().encode(sanitizeName("é".repeat(300) + ".jpg")).length, 200);
 * ```
 */
export function sanitizeName(name: string): string {
  if (typeof name !== "string") {
    throw new TypeError(`Cannot sanitize a file name: expected a string, got ${typeof name}`);
  }
  let text = cleanCharacters(name);
  text = trimDotsAndSpaces(text);
  if (text.length * 3 > MAX_BYTES) text = trimDotsAndSpaces(capBytes(text, MAX_BYTES));
  if (text.length === 0) return "file";
  if (isDeviceName(text)) {
    text = "_" + text;
    if (text.length * 3 > MAX_BYTES) text = trimDotsAndSpaces(capBytes(text, MAX_BYTES));
  }
  return text;
}

/** Separators and reserved characters to `_`, without control characters, then NFC. */
function cleanCharacters(text: string): string {
  let high = false;
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    let replacement: string;
    if (code < 0x80) {
      if (code < 0x20 || code === 0x7f) replacement = "";
      else if (RESERVED_ASCII[code] === 1) replacement = "_";
      else continue;
    } else if (code <= 0x9f) {
      replacement = "";
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        high = true;
        i++;
        continue;
      }
      replacement = "\ufffd";
    } else if ((code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) {
      replacement = "";
    } else {
      if (code >= 0x300) high = true;
      continue;
    }
    out += text.slice(from, i) + replacement;
    from = i + 1;
  }
  if (from !== 0) text = out + text.slice(from);
  // Below U+0300, every string is in NFC already.
  return high ? text.normalize("NFC") : text;
}

function trimDotsAndSpaces(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isDotOrSpace(text.charCodeAt(start))) start++;
  while (end > start && isDotOrSpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isDotOrSpace(code: number): boolean {
  return code === 0x2e || code === 0x20;
}

function isDeviceName(name: string): boolean {
  const dot = name.indexOf(".");
  let stem = dot === -1 ? name : name.slice(0, dot);
  if (stem.length > 8) return false;
  stem = stem.trimEnd();
  return DEVICE.test(stem);
}

/** The UTF-8 length of `text`, where a lone surrogate counts as U+FFFD (3 bytes). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** The longest prefix of `text` that fits in `max` UTF-8 bytes, cut between code points. */
function prefixBytes(text: string, max: number): string {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    let size = 3;
    let units = 1;
    if (code < 0x80) size = 1;
    else if (code < 0x800) size = 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      size = 4;
      units = 2;
    }
    if (bytes + size > max) return text.slice(0, i);
    bytes += size;
    i += units - 1;
  }
  return text;
}

/** Splits a name into stem and extension (with its dot), when the extension is short enough. */
function splitExtension(name: string): [stem: string, ext: string] {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return [name, ""];
  const ext = name.slice(dot);
  if (ext.length > MAX_EXT_BYTES || utf8Length(ext) > MAX_EXT_BYTES) return [name, ""];
  return [name.slice(0, dot), ext];
}

/** Cuts `name` to `max` UTF-8 bytes, keeping its extension when it has a short one. */
function capBytes(name: string, max: number): string {
  if (utf8Length(name) <= max) return name;
  const [stem, ext] = splitExtension(name);
  return prefixBytes(stem, max - utf8Length(ext)) + ext;
}

/** `stem` + `suffix` + extension, cut to fit: a name with a suffix that keeps it apart. */
function withSuffix(name: string, suffix: string): string {
  const [stem, ext] = splitExtension(name);
  return prefixBytes(stem, MAX_BYTES - suffix.length - utf8Length(ext)) + suffix + ext;
}

// FNV-1a, 64 bits, over UTF-8. The state is four 16-bit limbs, so that every product stays exact
// in int32 arithmetic; the result goes to `hashHi` and `hashLo` (no object per call).
let hashHi = 0;
let hashLo = 0;
const FNV_HI = 0xcbf29ce4;
const FNV_LO = 0x84222325;
const UTF8 = new Uint8Array(4);

/**
 * Continues an FNV-1a 64 hash from (hi, lo) over the UTF-8 bytes of `text` (a lone surrogate
 * counts as U+FFFD, as with `TextEncoder`), leaving the result in `hashHi` and `hashLo`.
 */
function fnv64(text: string, hi: number, lo: number): void {
  let h0 = lo & 0xffff;
  let h1 = lo >>> 16;
  let h2 = hi & 0xffff;
  let h3 = hi >>> 16;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      // Multiply by the FNV prime, 2^40 + 0x1b3, modulo 2^64.
      h0 ^= code;
      const t0 = h0 * 0x1b3;
      const t1 = h1 * 0x1b3 + (t0 >>> 16);
      const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
      h3 = (h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)) & 0xffff;
      h2 = t2 & 0xffff;
      h1 = t1 & 0xffff;
      h0 = t0 & 0xffff;
      continue;
    }
    let size: number;
    if (code < 0x800) {
      UTF8[0] = 0xc0 | (code >> 6);
      UTF8[1] = 0x80 | (code & 0x3f);
      size = 2;
    } else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      UTF8[0] = 0xf0 | (code >> 18);
      UTF8[1] = 0x80 | ((code >> 12) & 0x3f);
      UTF8[2] = 0x80 | ((code >> 6) & 0x3f);
      UTF8[3] = 0x80 | (code & 0x3f);
      size = 4;
    } else {
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
      UTF8[0] = 0xe0 | (code >> 12);
      UTF8[1] = 0x80 | ((code >> 6) & 0x3f);
      UTF8[2] = 0x80 | (code & 0x3f);
      size = 3;
    }
    for (let k = 0; k < size; k++) {
      h0 ^= UTF8[k];
      const t0 = h0 * 0x1b3;
      const t1 = h1 * 0x1b3 + (t0 >>> 16);
      const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
      h3 = (h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)) & 0xffff;
      h2 = t2 & 0xffff;
      h1 = t1 & 0xffff;
      h0 = t0 & 0xffff;
    }
  }
  hashHi = ((h3 << 16) | h2) >>> 0;
  hashLo = ((h1 << 16) | h0) >>> 0;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function hashHex(hi: number, lo: number): string {
  return HEX[hi >>> 24] + HEX[(hi >>> 16) & 0xff] + HEX[(hi >>> 8) & 0xff] + HEX[hi & 0xff] +
    HEX[lo >>> 24] + HEX[(lo >>> 16) & 0xff] + HEX[(lo >>> 8) & 0xff] + HEX[lo & 0xff];
}

/**
 * Returns the 64-bit FNV-1a hash of the UTF-8 bytes of `text`, as 16 lowercase hex digits. It is
 * stable across runs, machines and versions, which makes it fit for suffixes and sharding; it is
 * not a cryptographic hash.
 *
 * @param text Any text, e.g. a URL's `href`.
 * @returns 16 lowercase hex digits.
 * @throws {TypeError} When `text` is not a string.
 *
 * @example
 * ```ts
 * import { stableHash } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stableHash(""), "cbf29ce484222325");
 * assert.equal(stableHash("a"), "af63dc4c8601ec8c");
 * assert.match(stableHash("https://example.com/cat.png"), /^[0-9a-f]{16}$/);
 * ```
 */
export function stableHash(text: string): string {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot hash: expected a string, got ${typeof text}`);
  }
  fnv64(text, FNV_HI, FNV_LO);
  return hashHex(hashHi, hashLo);
}

/**
 * A set of 64-bit hashes with linear probing, in one typed array of (hi, lo) pairs, so that a
 * probe touches one cache line: 8 bytes a slot (9 with tags), at most 75 % full. The table grows
 * by half each time (not by doubling), so that it is on average a third smaller for millions of
 * URLs; a hash is mapped onto its any-size range by a multiplication (Lemire's "fastrange"). The
 * hash (0, 0) marks an empty slot, so it is stored as (0, 1).
 */
class HashSet64 {
  #slots: Uint32Array;
  #tags: Uint8Array | undefined;
  #capacity: number;
  #size = 0;
  #limit: number;

  constructor(tagged: boolean, capacity = 1024) {
    this.#capacity = capacity;
    this.#slots = new Uint32Array(2 * capacity);
    this.#tags = tagged ? new Uint8Array(capacity) : undefined;
    this.#limit = Math.floor(capacity * 0.75);
  }

  get size(): number {
    return this.#size;
  }

  /** The slot holding (hi, lo) when it is there, else `-1 - ` the empty slot to add it at. */
  find(hi: number, lo: number): number {
    if (hi === 0 && lo === 0) lo = 1;
    const slots = this.#slots;
    const capacity = this.#capacity;
    for (let slot = this.#home(hi, lo);;) {
      const h = slots[slot * 2];
      const l = slots[slot * 2 + 1];
      if (h === hi && l === lo) return slot;
      if (h === 0 && l === 0) return -1 - slot;
      if (++slot === capacity) slot = 0;
    }
  }

  /** Adds (hi, lo), which `find` just reported missing with `missing`, with an optional tag. */
  add(hi: number, lo: number, missing: number, tag = 0): void {
    if (hi === 0 && lo === 0) lo = 1;
    if (this.#size >= this.#limit) {
      this.#grow();
      this.#place(hi, lo, tag);
    } else {
      const slot = -1 - missing;
      this.#slots[slot * 2] = hi;
      this.#slots[slot * 2 + 1] = lo;
      if (this.#tags) this.#tags[slot] = tag;
    }
    this.#size++;
  }

  tag(slot: number): number {
    return this.#tags![slot];
  }

  /** The first slot to probe: 32 mixed bits of the hash, scaled to the capacity. */
  #home(hi: number, lo: number): number {
    const mixed = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0;
    // Below the capacity: the product is at most (2^32 - 1) × capacity, and rounds by far less
    // than one capacity.
    return Math.floor((mixed * this.#capacity) / 4294967296);
  }

  #place(hi: number, lo: number, tag: number): void {
    const slots = this.#slots;
    const capacity = this.#capacity;
    let slot = this.#home(hi, lo);
    while (slots[slot * 2] !== 0 || slots[slot * 2 + 1] !== 0) {
      if (++slot === capacity) slot = 0;
    }
    slots[slot * 2] = hi;
    slots[slot * 2 + 1] = lo;
    if (this.#tags) this.#tags[slot] = tag;
  }

  #grow(): void {
    const slots = this.#slots;
    const tags = this.#tags;
    const old = this.#capacity;
    const capacity = Math.ceil(old * 1.5);
    if (capacity > 2 ** 28) {
      throw new RangeError("Cannot allocate more names: the name table is full");
    }
    this.#capacity = capacity;
    this.#slots = new Uint32Array(2 * capacity);
    this.#tags = tags ? new Uint8Array(capacity) : undefined;
    this.#limit = Math.floor(capacity * 0.75);
    for (let slot = 0; slot < old; slot++) {
      const hi = slots[slot * 2];
      const lo = slots[slot * 2 + 1];
      if (hi !== 0 || lo !== 0) this.#place(hi, lo, tags ? tags[slot] : 0);
    }
  }
}

/**
 * What {@linkcode NameAllocator.allocate} decided for one URL.
 *
 * @example
 * ```ts
 * import { type Allocation, NameAllocator } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * const names = new NameAllocator();
 * const url = new URL("https://example.com/a/cat.png");
 * const allocation: Allocation = names.allocate(url, "tabby.png");
 * assert.deepEqual(allocation, { name: "tabby.png", duplicate: false });
 * ```
 */
export interface Allocation {
  /** The file name, unique in this run (compared case-insensitively). */
  name: string;
  /**
   * `true` when the same URL was allocated before with the same wanted name: `name` is then the
   * name it got the first time, and there is nothing new to download.
   */
  duplicate: boolean;
}

/** The highest level stored in a tag; higher levels live in a map. */
const TAG_OVERFLOW = 255;

/**
 * Hands out the file names of one run, deterministically: the same URLs in the same order get
 * the same names on every run.
 *
 * The first URL (in call order) to want a name gets it. A later, different URL that wants the
 * same name, compared case-insensitively after NFC (as on macOS and Windows), gets
 * `stem-HHHHHHHH.ext`, where `HHHHHHHH` are the first 8 hex digits of
 * {@linkcode stableHash}`(url.href)`; should that be taken too, all 16 digits, then those with
 * `-2`, `-3`, ... appended.
 *
 * A URL allocated again with the same wanted name is a duplicate: it gets the name it got the
 * first time, with `duplicate: true`. (The same URL with another wanted name is a new download.)
 *
 * Memory stays small for millions of URLs because no string is kept: taken names and allocated
 * URLs are 64-bit hashes in open-addressing tables of typed arrays, about 25 bytes per URL. Two
 * different names with the same hash only cost an unneeded suffix, still deterministic; two
 * different URLs with the same hash would make the second a "duplicate", a chance of about
 * n² / 2^65 for n URLs (3 in a million for 10 million URLs).
 *
 * @example
 * ```ts
 * import { NameAllocator } from "./naming.ts";
 * import assert from "node:assert/strict";
 *
 * const names = new NameAllocator();
 * const first = names.allocate(new URL("https://a.example/x.png"));
 * const second = names.allocate(new URL("https://b.example/X.PNG"));
 * const again = names.allocate(new URL("https://a.example/x.png"));
 * assert.deepEqual(first, { name: "x.png", duplicate: false });
 * assert.match(second.name, /^X-[0-9a-f]{8}\.PNG$/);
 * assert.deepEqual(again, { name: "x.png", duplicate: true });
 * assert.equal(names.size, 2);
 * ```
 */
export class NameAllocator {
  /** Hashes of the taken names, lowercased. */
  #names = new HashSet64(false);
  /** Hashes of (href, wanted name), tagged with the level of the name they got. */
  #urls = new HashSet64(true);
  /** Levels of 255 and above, by URL hash; only reachable with crafted names. */
  #overflow = new Map<string, number>();

  /**
   * The number of names taken, by {@linkcode NameAllocator.allocate} and
   * {@linkcode NameAllocator.reserve}.
   *
   * @returns The number of names taken.
   *
   * @example
   * ```ts
   * import { NameAllocator } from "./naming.ts";
   * import assert from "node:assert/strict";
   *
   * const names = new NameAllocator();
   * names.reserve("cat.png");
   * assert.equal(names.size, 1);
   * ```
   */
  get size(): number {
    return this.#names.size;
  }

  /**
   * Marks a name as taken, e.g. one that a previous run left in the output directory, so that
   * no URL of this run gets it. The name is used as given (it should be one this module made);
   * reserving a name twice is harmless.
   *
   * @param name The file name to keep out of this run's allocations.
   * @throws {TypeError} When `name` is not a string.
   *
   * @example
   * ```ts
   * import { NameAllocator } from "./naming.ts";
   * import assert from "node:assert/strict";
   *
   * const names = new NameAllocator();
   * names.reserve("cat.png");
   * assert.notEqual(names.allocate(new URL("https://example.com/cat.png")).name, "cat.png");
   * ```
   */
  reserve(name: string): void {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot reserve a file name: expected a string, got ${typeof name}`);
    }
    const missing = this.#findName(name.normalize("NFC"));
    if (missing < 0) this.#names.add(hashHi, hashLo, missing);
  }

  /**
   * Allocates the file name for one URL: see the class for the rules.
   *
   * @param url The requested URL.
   * @param preferred A name given by the user (e.g. a CSV `name` column), used instead of the
   * URL's {@linkcode baseName} and sanitized the same way; an empty string counts as none.
   * @returns The name, and whether this URL (with this wanted name) was allocated before.
   * @throws {TypeError} When `url` is not a `URL` or `preferred` is not a string.
   *
   * @example
   * ```ts
   * import { NameAllocator } from "./naming.ts";
   * import assert from "node:assert/strict";
   *
   * const names = new NameAllocator();
   * assert.equal(names.allocate(new URL("https://example.com/a/x.png")).name, "x.png");
   * assert.notEqual(names.allocate(new URL("https://example.com/b/x.png")).name, "x.png");
   * assert.equal(names.allocate(new URL("https://example.com/c.png"), "my cat.png").name, "my cat.png");
   * ```
   */
  allocate(url: URL, preferred?: string): Allocation {
    if (!(url instanceof URL)) {
      throw new TypeError(`Cannot allocate a file name: expected a URL, got ${typeof url}`);
    }
    if (preferred !== undefined && typeof preferred !== "string") {
      throw new TypeError(
        `Cannot allocate a file name: 'preferred' must be a string, got ${typeof preferred}`,
      );
    }
    const href = url.href;
    const base = preferred ? sanitizeName(preferred) : baseName(url);

    fnv64(href, FNV_HI, FNV_LO);
    fnv64("\0", hashHi, hashLo);
    fnv64(base, hashHi, hashLo);
    const urlHi = hashHi;
    const urlLo = hashLo;
    const slot = this.#urls.find(urlHi, urlLo);
    if (slot >= 0) {
      let level = this.#urls.tag(slot);
      if (level === TAG_OVERFLOW) level = this.#overflow.get(hashHex(urlHi, urlLo))!;
      return { name: candidate(base, href, level), duplicate: true };
    }

    let level = 0;
    let name = base;
    let missing: number;
    while ((missing = this.#findName(name)) >= 0) name = candidate(base, href, ++level);
    this.#names.add(hashHi, hashLo, missing);
    if (level >= TAG_OVERFLOW) this.#overflow.set(hashHex(urlHi, urlLo), level);
    this.#urls.add(urlHi, urlLo, slot, Math.min(level, TAG_OVERFLOW));
    return { name, duplicate: false };
  }

  /** Looks `name` up (case-insensitively) as `HashSet64.find` does; its hash stays in `hashHi`, `hashLo`. */
  #findName(name: string): number {
    fnv64(name.toLowerCase(), FNV_HI, FNV_LO);
    return this.#names.find(hashHi, hashLo);
  }
}

/** The name at `level`: 0 the base, 1 with 8 hash digits, 2 with 16, then 16 and a counter. */
function candidate(base: string, href: string, level: number): string {
  if (level === 0) return base;
  const hash = stableHash(href);
  if (level === 1) return withSuffix(base, "-" + hash.slice(0, 8));
  if (level === 2) return withSuffix(base, "-" + hash);
  return withSuffix(base, `-${hash}-${level - 1}`);
}
