/**
 * Credentials in input URLs (`http://user:pass@host/x.png`) are used for the fetch but never
 * written: everything the run writes (the journal, results, `--json`, reports) carries the URL
 * with its password replaced by `***`. The redacted URL is also the URL's identity in the
 * journal, so a URL keeps its name and its saved state across runs, even when its password
 * changes.
 *
 * @module
 */

/** What stands for a password in everything written. */
export const REDACTED = "***";

/**
 * The URL with its password, if any, replaced by `***`; text that is not a URL, or a URL without
 * a password, is returned as it is.
 *
 * @param url A URL as given, or a parsed one (then its `href` is redacted).
 * @returns The text to write in place of the URL.
 */
export function redactUrl(url: string | URL): string {
  if (typeof url === "string") {
    // Most URLs hold no "@", and then no credentials: no parsing.
    if (!url.includes("@")) return url;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return url;
    }
    if (parsed.password === "") return url;
    parsed.password = REDACTED;
    return parsed.href;
  }
  const href = url.href;
  // No "@" in the href: no credentials (the password getter costs more than this look).
  if (!href.includes("@") || url.password === "") return href;
  const copy = new URL(url.href);
  copy.password = REDACTED;
  return copy.href;
}

/**
 * Where a password is: after `//user:`, after a `user:` that starts the text, or after a quoted
 * `"user:` (a text repeated in a message); the prefix is group 1 or 3, the password 2 or 4.
 */
const USERINFO =
  /(^\s*[^\s/?#\\:@"']+:|\/\/[^\s/?#\\:@"']*:)([^/?#\\]*)@|("[^\s/?#\\:@"']+:)([^\s/?#\\"']*)@/g;

/**
 * `text`, which need not be a URL (a line of a list that is not one), with any password of the
 * forms `scheme://user:pass@host` and `user:pass@host` replaced by `***`: for the messages and
 * results about a text that cannot be parsed.
 *
 * @param text Any text, e.g. one line of a list.
 * @returns The text with its passwords masked.
 */
export function maskPasswords(text: string): string {
  if (!text.includes("@")) return text;
  return text.replace(
    USERINFO,
    (_, user?: string, _password?: string, quoted?: string) => `${user ?? quoted}${REDACTED}@`,
  );
}
