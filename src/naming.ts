/**
 * File names for downloads: a requested URL becomes a safe, stable file name, unique within a
 * run, in a way that costs about a microsecond and a few bytes per URL.
 *
 * - {@linkcode baseName} takes the last segment of the requested URL's path.
 * - {@linkcode sanitizeName} makes any text a safe file name on Linux, macOS and Windows.
 *
 * `NameAllocator` (`name_table.ts`) hands out names that never collide, and spots repeated URLs.
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
  // Windows drops the spaces before the extension: `CON   .txt` is the device CON.
  const stem = (dot === -1 ? name : name.slice(0, dot)).trimEnd();
  if (stem.length > 7) return false;
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
export function withSuffix(name: string, suffix: string): string {
  const [stem, ext] = splitExtension(name);
  return prefixBytes(stem, MAX_BYTES - suffix.length - utf8Length(ext)) + suffix + ext;
}

/** For the modules that took it from here; it lives in `hash.ts`. */
