/**
 * Words a failed `fetch` for the user: Deno throws `TypeError: fetch failed` whose `cause` (an
 * `Error` from hyper and rustls) says what happened, in words such as `client error (Connect):
 * tcp connect error: Connection refused (os error 111)`. This finds the cause a user can act on.
 *
 * @module
 */

/** The causes' messages, outermost first. */
function messages(error: unknown): string[] {
  const all: string[] = [];
  let at: unknown = error;
  for (let depth = 0; at !== undefined && at !== null && depth < 8; depth++) {
    all.push(at instanceof Error ? at.message : String(at));
    at = (at as { cause?: unknown }).cause;
  }
  return all;
}

/** The peer as the runtime names it, `host:port`, or else the URL's. */
function peer(text: string, href: string | undefined): string {
  const named = /for (?:url \()?([a-z][a-z0-9+.-]*:\/\/[^\s)]+)/i.exec(text)?.[1] ?? href;
  if (!named) return "the server";
  try {
    const url = new URL(named);
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    return `${url.hostname}:${port}`;
  } catch {
    return "the server";
  }
}

const CERTIFICATE: [RegExp, string][] = [
  [/UnknownIssuer/, "issued by an unknown authority (self-signed?)"],
  [/CaUsedAsEndEntity/, "a CA certificate used as the server's own (self-signed?)"],
  [/NotValidForName|NotValidForNameContext/, "not valid for this host name"],
  [/Expired/, "expired"],
  [/NotValidYet/, "not valid yet"],
  [/Revoked/, "revoked"],
];

/**
 * Tells what made a request fail, in a few words a user can act on.
 *
 * @param error What `fetch` (or reading its body) threw.
 * @param href The URL that was requested, to name the server when the error does not.
 * @returns A short sentence, e.g. `connection refused (127.0.0.1:9)`.
 *
 * @example
 * ```ts
 * import { networkMessage } from "./net_error.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new TypeError("fetch failed", {
 *   cause: new Error(
 *     "error sending request for url (http://127.0.0.1:9/x): client error (Connect): tcp connect error: Connection refused (os error 111)",
 *   ),
 * });
 * assert.equal(networkMessage(error), "connection refused (127.0.0.1:9)");
 * ```
 */
export function networkMessage(error: unknown, href?: string): string {
  const all = messages(error);
  const text = all.join(" <- ");
  const where = peer(text, href);
  const host = where.replace(/:\d+$/, "");
  if (/connection refused/i.test(text)) return `connection refused (${where})`;
  if (/dns error|failed to lookup address|name or service not known|no address/i.test(text)) {
    return `the host name ${host} did not resolve (DNS)`;
  }
  if (/invalid peer certificate|certificate/i.test(text)) {
    const detail = /invalid peer certificate: (.*)$/m.exec(text)?.[1] ?? "";
    const known = CERTIFICATE.find(([pattern]) => pattern.test(detail));
    return `TLS: the server's certificate was rejected: ${
      known ? known[1] : shorten(detail || "invalid")
    } (${where})`;
  }
  if (/tls|handshake|alert/i.test(text) && /connect/i.test(text)) {
    return `TLS handshake failed (${where}): ${shorten(last(all))}`;
  }
  if (/connection reset/i.test(text)) return `the connection was reset by the server (${where})`;
  if (/closed before message completed|connection closed/i.test(text)) {
    return `the server closed the connection without an answer (${where})`;
  }
  if (/message head is too large|header.*too (large|long|many)|too many headers/i.test(text)) {
    return `the response's headers are too large (${where})`;
  }
  if (/timed out|ttl expired|os error 110/i.test(text)) {
    return `the connection timed out (${where})`;
  }
  if (/unreachable|no route to host/i.test(text)) return `the network is unreachable (${where})`;
  if (/error reading a body/i.test(text)) {
    return `the connection broke off while the body was coming (${where})`;
  }
  if (/invalid http|invalid (status|header)|parse/i.test(text)) {
    return `the server's answer is not valid HTTP (${where}): ${shorten(last(all))}`;
  }
  return `network error: ${
    shorten(last(all).replace(/^error sending request for url \([^)]*\): /, ""))
  }`;
}

/** The innermost message, the one that says most. */
function last(all: string[]): string {
  return all.at(-1) ?? "unknown";
}

function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
