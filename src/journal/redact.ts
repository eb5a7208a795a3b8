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
  if (url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.password = REDACTED;
  return copy.href;
}

/** Whether `url` has a password, which the journal does not keep. */
export function hasPassword(url: URL): boolean {
  return url.password !== "";
}
