/**
 * Following HTTP redirects by hand (`redirect: "manual"`), so that every hop is checked: its URL
 * must be `http:` or `https:`, and with `denyPrivate`, its host must not be, or resolve to, a
 * private address. With a `guard`, every hop's connection goes through it instead, so the address
 * connected to is the one checked (see `egress.ts`). Downloads and robots.txt fetches both go
 * through {@linkcode followRedirects}; each caller words the refusals its own way.
 *
 * @module
 */

import { checkPublic } from "./address_guard.ts";
import type { EgressGuard } from "./egress.ts";

/** The statuses that redirect. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** How {@linkcode followRedirects} fetches. */
export interface FollowOptions {
  /** The request's headers and signal; `redirect` is always `"manual"`. */
  init: Omit<RequestInit, "redirect">;
  /** How many redirects to follow; a chain with one more is refused. */
  maxRedirects: number;
  /** Refuse a URL, the first or a redirect's, whose host is or resolves to a private address. */
  denyPrivate: boolean;
  /**
   * Connect through this guard (`denyPrivate` at connect time): a connection it refuses ends the
   * chain as refused `"private"`, with the guard's reason.
   */
  guard?: EgressGuard;
  /** The `fetch` to use. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Called just before each request, e.g. to start a headers timeout. */
  onRequest?: () => void;
}

/**
 * How a chain of redirects ended: in a response that is not a redirect, or refused. `status` is
 * that of the last response; it is missing only when the first URL was refused.
 */
export type Followed =
  | { response: Response; status: number }
  | { refused: "private"; verdict: string; status?: number }
  | { refused: "no-location"; status: number }
  | { refused: "too-many"; location: string; status: number }
  | { refused: "not-url"; location: string; problem: string; status: number }
  | { refused: "not-http"; url: URL; status: number };

/**
 * Fetches `url`, following up to `maxRedirects` redirects. The bodies of redirects are cancelled;
 * network errors and aborts are thrown.
 *
 * @param url The first URL.
 * @param options The request, the limit and the guard.
 * @returns The final response, or why the chain was refused.
 */
export async function followRedirects(
  url: string | URL,
  options: FollowOptions,
): Promise<Followed> {
  const fetcher = options.fetch ?? fetch;
  const guard = options.guard;
  const init: RequestInit = {
    ...options.init,
    redirect: "manual",
    ...(guard ? { client: guard.client } : {}),
  };
  let status: number | undefined;
  for (let hops = 0;; hops++) {
    // With a guard, the connection itself is checked (with the same sentence): checking here too
    // would cost two more DNS queries a hop, from a resolver that may disagree with fetch's.
    if (options.denyPrivate && !guard) {
      const verdict = await checkPublic(typeof url === "string" ? new URL(url) : url);
      if (verdict !== true) return { refused: "private", verdict, status };
    }
    options.onRequest?.();
    let response: Response;
    try {
      response = await fetcher(url, init);
    } catch (error) {
      const verdict = guard?.refusal(url, error);
      if (verdict !== undefined) return { refused: "private", verdict, status };
      throw error;
    }
    status = response.status;
    if (!REDIRECTS.has(status)) return { response, status };
    await response.body?.cancel();
    const location = response.headers.get("location");
    if (location === null) return { refused: "no-location", status };
    if (hops >= options.maxRedirects) return { refused: "too-many", location, status };
    try {
      url = new URL(location, url);
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      return { refused: "not-url", location, problem, status };
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return { refused: "not-http", url, status };
    }
  }
}
