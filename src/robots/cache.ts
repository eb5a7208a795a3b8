/**
 * {@linkcode RobotsCache}: fetches each origin's robots.txt once (redirects, size and time
 * capped, as RFC 9309 asks) and checks URLs against the rules for our user agent.
 *
 * @module
 */

import { EgressGuard } from "../egress.ts";
import { TimeoutError } from "../errors.ts";
import { followRedirects } from "../redirects.ts";
import { parseRobots, RobotsRules } from "./rules.ts";

/** The settings of a {@linkcode RobotsCache}. */
export interface RobotsCacheOptions {
  /** Our user agent: sent with each request, and its product token picks the group. */
  userAgent: string;
  /** The `fetch` to use. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Milliseconds to fetch one robots.txt, redirects and body included. Default 30,000. */
  timeout?: number;
  /** Aborts every fetch; origins being fetched then count as unreachable. */
  signal?: AbortSignal;
  /**
   * Refuse a robots.txt, or a redirect of it, whose host is or resolves to a private address;
   * its origin then counts as unreachable. The check holds at connect time: the fetches go
   * through an {@linkcode EgressGuard}, made at the first fetch and closed by
   * {@linkcode RobotsCache.close}. Default `false`.
   */
  denyPrivate?: boolean;
  /**
   * Milliseconds after which an unreachable robots.txt is asked for again, so that one
   * passing outage does not shut a site out for a whole run. Default 60,000.
   */
  retryUnreachable?: number;
}

/** What fetching an origin's robots.txt gave. */
type Entry =
  | { rules: RobotsRules }
  | { unreachable: string; expires: number };

/** Redirects followed for one robots.txt; RFC 9309 asks for at least five. */
const MAX_REDIRECTS = 5;

/** The most bytes of a robots.txt read; RFC 9309 asks for at least 500 KiB. */
const MAX_BYTES = 500 * 1024;

const ALLOW_ALL = new RobotsRules();

/**
 * Fetches each origin's robots.txt once, and checks URLs against the rules for our user agent.
 * Checks of an origin made while its robots.txt is on its way wait for that one fetch.
 *
 * As RFC 9309 says: a 4xx answer (the file is unavailable) allows everything, except 429,
 * which counts as the server being unavailable; a 5xx answer, a network error or a timeout
 * disallows the whole origin (for `retryUnreachable` milliseconds, then it is asked again); up
 * to five redirects are followed (more allow everything); at most 500 KiB are read.
 *
 * @example
 * ```ts
 * import { RobotsCache } from "./cache.ts";
 * import assert from "node:assert/strict";
 *
 * const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) =>
 *   new URL(request.url).pathname === "/robots.txt"
 *     ? new Response("User-agent: *\nDisallow: /private\n")
 *     : new Response("ok"));
 * try {
 *   const origin = `http://127.0.0.1:${server.addr.port}`;
 *   const robots = new RobotsCache({ userAgent: "downpour/0.1.0" });
 *   assert.equal(await robots.check(new URL(`${origin}/cat.png`)), true);
 *   assert.equal(
 *     await robots.check(new URL(`${origin}/private/cat.png`)),
 *     `refused by ${origin}/robots.txt (Disallow: /private)`,
 *   );
 * } finally {
 *   await server.shutdown();
 * }
 * ```
 */
export class RobotsCache implements AsyncDisposable {
  #userAgent: string;
  #fetch: typeof fetch;
  #timeout: number;
  #signal: AbortSignal | undefined;
  #retry: number;
  #denyPrivate: boolean;
  #guard: EgressGuard | undefined;
  #closed = false;
  #entries = new Map<string, Promise<Entry>>();
  #settled = new Map<string, Entry>();

  /**
   * Makes an empty cache.
   *
   * @param options The user agent, and optionally `fetch`, a timeout and an abort signal.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When `timeout` or `retryUnreachable` is not a positive number.
   */
  constructor(options: RobotsCacheOptions) {
    const { userAgent, fetch: fetcher = globalThis.fetch, timeout = 30_000, signal } = options ??
      {};
    const { retryUnreachable = 60_000, denyPrivate = false } = options ?? {};
    if (typeof userAgent !== "string") {
      throw new TypeError(
        `Cannot make a robots.txt cache: 'userAgent' must be a string, got ${typeof userAgent}`,
      );
    }
    if (typeof fetcher !== "function") {
      throw new TypeError(
        `Cannot make a robots.txt cache: 'fetch' must be a function, got ${typeof fetcher}`,
      );
    }
    for (const [name, value] of [["timeout", timeout], ["retryUnreachable", retryUnreachable]]) {
      if (typeof value !== "number" || !(value > 0)) {
        throw new RangeError(
          `Cannot make a robots.txt cache: '${name}' must be a positive number of milliseconds, got ${
            String(value)
          }`,
        );
      }
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError("Cannot make a robots.txt cache: 'signal' must be an AbortSignal");
    }
    this.#userAgent = userAgent;
    this.#fetch = fetcher;
    this.#timeout = timeout;
    this.#signal = signal;
    this.#retry = retryUnreachable;
    this.#denyPrivate = denyPrivate;
  }

  /**
   * Checks a URL against its origin's robots.txt, fetching that first if need be. Never
   * rejects for network or server trouble: that is a refusal.
   *
   * @param url The URL to check; URLs other than `http:` and `https:` are always allowed.
   * @returns `true` when the URL may be fetched, else a sentence naming the robots.txt, e.g.
   * `refused by http://example.com/robots.txt (Disallow: /private)`.
   * @throws {TypeError} When `url` is not a `URL`.
   */
  async check(url: URL): Promise<true | string> {
    const entry = await this.#entry(url);
    if (entry === undefined) return true;
    const robots = `${url.origin}/robots.txt`;
    if ("unreachable" in entry) {
      return `refused: ${robots} was unreachable (${entry.unreachable}), so the whole site is disallowed`;
    }
    const rule = entry.rules.match(url);
    if (!rule || rule.allow) return true;
    return `refused by ${robots} (Disallow: ${rule.path})`;
  }

  /**
   * Gets the rules for a URL's origin, fetching its robots.txt first if need be, e.g. for its
   * `crawlDelay`.
   *
   * @param url Any URL of the origin.
   * @returns The rules, or `undefined` when the robots.txt was unreachable or `url` is not
   * `http:` or `https:`.
   * @throws {TypeError} When `url` is not a `URL`.
   */
  async rules(url: URL): Promise<RobotsRules | undefined> {
    const entry = await this.#entry(url);
    return entry && "rules" in entry ? entry.rules : undefined;
  }

  #entry(url: URL): Promise<Entry | undefined> {
    if (!(url instanceof URL)) {
      return Promise.reject(
        new TypeError(`Cannot check robots.txt: expected a URL, got ${typeof url}`),
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.resolve(undefined);
    const origin = url.origin;
    const settled = this.#settled.get(origin);
    let entry = this.#entries.get(origin);
    if (!entry || (settled && "unreachable" in settled && performance.now() >= settled.expires)) {
      this.#settled.delete(origin);
      entry = this.#load(origin).then((loaded) => {
        this.#settled.set(origin, loaded);
        return loaded;
      });
      this.#entries.set(origin, entry);
    }
    return entry;
  }

  /**
   * Closes the connect-time guard of `denyPrivate`, if one was made; robots.txt files not
   * fetched yet then count as unreachable.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#guard?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The guard robots.txt fetches go through, with `denyPrivate`; made at the first fetch. */
  #connectGuard(): EgressGuard | undefined {
    if (!this.#denyPrivate) return undefined;
    if (this.#closed) throw new Error("the robots.txt cache was closed");
    return this.#guard ??= new EgressGuard();
  }

  /** Fetches and parses an origin's robots.txt; never rejects. */
  async #load(origin: string): Promise<Entry> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new TimeoutError("total", `timed out after ${this.#timeout} ms`)),
      this.#timeout,
    );
    const onAbort = () => controller.abort(this.#signal!.reason);
    if (this.#signal?.aborted) onAbort();
    else this.#signal?.addEventListener("abort", onAbort, { once: true });
    const unreachable = (why: string): Entry => ({
      unreachable: why,
      expires: performance.now() + this.#retry,
    });
    try {
      const followed = await followRedirects(new URL("/robots.txt", origin), {
        fetch: this.#fetch,
        init: {
          headers: { "user-agent": this.#userAgent, accept: "text/plain, */*;q=0.1" },
          signal: controller.signal,
        },
        maxRedirects: MAX_REDIRECTS,
        denyPrivate: this.#denyPrivate,
        guard: this.#connectGuard(),
      });
      if ("response" in followed) {
        const { response, status } = followed;
        if (status >= 200 && status < 300) {
          return { rules: parseRobots(await readCapped(response), this.#userAgent) };
        }
        await response.body?.cancel();
        if (status >= 400 && status < 500 && status !== 429) return { rules: ALLOW_ALL };
        return unreachable(`HTTP ${status}`);
      }
      switch (followed.refused) {
        case "too-many":
          // The file counts as unavailable, which allows everything.
          return { rules: ALLOW_ALL };
        case "no-location":
          return unreachable(`HTTP ${followed.status}`);
        case "not-url":
          return unreachable(followed.problem);
        case "not-http":
          return unreachable(`redirected to ${followed.url.protocol} URL`);
      }
      return unreachable(followed.verdict);
    } catch (error) {
      if (controller.signal.reason instanceof TimeoutError) {
        return unreachable(controller.signal.reason.message);
      }
      if (controller.signal.aborted) return unreachable("aborted");
      return unreachable(error instanceof Error ? error.message : String(error));
    } finally {
      clearTimeout(timer);
      this.#signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** Reads at most {@linkcode MAX_BYTES} of a body as UTF-8; a line cut short is dropped. */
async function readCapped(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > MAX_BYTES) {
        chunks.push(value.subarray(0, MAX_BYTES - size));
        size = MAX_BYTES;
        cut = true;
        await reader.cancel();
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let text = new TextDecoder().decode(bytes);
  if (cut) {
    const end = Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r"));
    text = end === -1 ? "" : text.slice(0, end);
  }
  return text;
}
