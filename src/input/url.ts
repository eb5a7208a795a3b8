/**
 * Telling whether a text from a list is an http(s) URL, and if not, why, in a sentence a user can
 * act on.
 *
 * @module
 */

import { maskPasswords } from "../journal/redact.ts";

/** How much of an offending text a problem repeats. */
const MAX_SHOWN = 200;

/**
 * Checks that `text` is an absolute http: or https: URL.
 *
 * @param text The text to check, e.g. one line of a list.
 * @returns The parsed URL, or a sentence a user can act on saying why `text` is not usable.
 * @throws {TypeError} When `text` is not a string.
 *
 * @example
 * ```ts
 * import { checkUrl } from "./url.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(checkUrl("https://example.com/cat.png") instanceof URL);
 * assert.equal(
 *   checkUrl("ftp://x/y"),
 *   '"ftp://x/y" uses the ftp: scheme; only http: and https: are supported',
 * );
 * assert.equal(
 *   checkUrl("foo bar"),
 *   '"foo bar" is not a URL (expected something like https://example.com/cat.png)',
 * );
 * ```
 */
export function checkUrl(text: string): URL | string {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot check a URL: expected a string, got ${typeof text}`);
  }
  const url = URL.parse(text);
  if (url !== null && (url.protocol === "http:" || url.protocol === "https:")) return url;
  // The problem repeats the text: never its password.
  text = maskPasswords(text);
  const shown = JSON.stringify(clip(text));
  if (url === null) {
    const trimmed = text.trim();
    if (trimmed.startsWith("//") && URL.parse("https:" + trimmed) !== null) {
      return `${shown} has no scheme; write it as "https:${clip(trimmed)}"`;
    }
    if (/^[^\s/:?#]+\.[^\s/:?#.]+(?::\d+)?(?:[/?#]|$)/.test(trimmed)) {
      if (URL.parse("https://" + trimmed) !== null) {
        return `${shown} has no scheme; write it as "https://${clip(trimmed)}"`;
      }
    }
    if (/^[a-z][a-z\d+.-]*:\/\//i.test(trimmed)) {
      return `${shown} is not a valid URL (look for spaces or characters out of place)`;
    }
    return `${shown} is not a URL (expected something like https://example.com/cat.png)`;
  }
  // "localhost:8080/cat.png" parses as the scheme "localhost:".
  if (/^[^\s/:?#]+:\d+(?:[/?#]|$)/.test(text.trim())) {
    return `${shown} has no scheme; write it as "http://${clip(text.trim())}"`;
  }
  return `${shown} uses the ${url.protocol} scheme; only http: and https: are supported`;
}

/** `text`, cut to the length a problem repeats. */
export function clip(text: string): string {
  return text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + "…" : text;
}
