/**
 * The connect-time half of `--deny-private`: {@linkcode EgressGuard}, an in-process SOCKS5 proxy
 * on 127.0.0.1 that a thread's fetches go through (`Deno.createHttpClient({ proxy })`). For each
 * connection it resolves the host once, checks every answer with {@linkcode checkPublic}'s rules,
 * and connects to exactly an address it checked. A DNS server that answers one address to a check
 * and another to the connection (DNS rebinding) so cannot lead a download, a redirect or a
 * robots.txt fetch to a private address; a pooled connection stays on the address it was checked
 * with. Smokescreen (Stripe) works the same way.
 *
 * fetch asks for a connection by name (`socks5h://`), for `http:` and `https:` alike; a refusal
 * reaches the caller as a TypeError ("Connection not allowed by ruleset"), and
 * {@linkcode EgressGuard.refusal} gives back the sentence of the check that refused it.
 *
 * At some 430 lines this module is over the core's usual 400, for a reason: it is one concept,
 * the proxy's SOCKS5 conversation and the checked connection it makes, and its parts would only
 * make sense read together.
 *
 * @module
 */

import { checkPublic } from "./address_guard.ts";

/** Resolves a host name to its IP addresses. */
export type Resolve = (host: string) => Promise<string[]>;

/** Decides on a URL's host, resolving it with the resolver given: `true`, or why it is refused. */
export type Check = (url: URL, resolve: Resolve) => Promise<true | string>;

/** The settings of an {@linkcode EgressGuard}; the defaults are what `--deny-private` uses. */
export interface EgressGuardOptions {
  /**
   * Resolves host names. Default: the system's resolver (getaddrinfo, as fetch itself uses, so
   * `/etc/hosts` counts), A and AAAA.
   */
  resolve?: Resolve;
  /**
   * Decides whether a host may be connected to. Default: {@linkcode checkPublic}. Tests and
   * benchmarks that must reach a loopback server put their own here; it is not a user option.
   */
  check?: Check;
  /** Milliseconds to connect to one address before trying the next. Default 30,000. */
  connectTimeout?: number;
}

/**
 * node:dns is loaded at the first look-up: loading it costs every thread that imports this module
 * some milliseconds, and most runs never look a name up themselves.
 */
let dns: Promise<typeof import("node:dns/promises")> | undefined;

/** The system's resolver, all answers in its order. */
async function systemResolve(host: string): Promise<string[]> {
  const { lookup } = await (dns ??= import("node:dns/promises"));
  const answers = await lookup(host, { all: true, order: "verbatim" });
  return answers.map((answer) => answer.address);
}

/** SOCKS5 reply codes (RFC 1928, section 6). */
const REPLY = {
  ok: 0,
  failure: 1,
  notAllowed: 2,
  networkUnreachable: 3,
  hostUnreachable: 4,
  connectionRefused: 5,
  timedOut: 6,
  commandNotSupported: 7,
  addressNotSupported: 8,
} as const;

/** The most refusals remembered for {@linkcode EgressGuard.refusal}; the oldest go first. */
const MAX_REFUSALS = 1024;

/** Milliseconds a client has to finish the SOCKS handshake. */
const HANDSHAKE_TIMEOUT = 10_000;

/** Bytes read at a time while relaying. */
const RELAY_BUFFER = 64 * 1024;

/** What fetch's error says when the proxy refused with {@linkcode REPLY.notAllowed}. */
const NOT_ALLOWED = /not allowed by ruleset/i;

/**
 * A SOCKS5 proxy on 127.0.0.1 (no authentication beyond a random user name and password, CONNECT
 * only) that connects only to addresses its check allowed. Give {@linkcode client} to fetch;
 * close the guard (`await using`) to close its listener, its connections and the client.
 */
export class EgressGuard implements AsyncDisposable {
  /** The HTTP client whose connections all go through this guard. */
  readonly client: Deno.HttpClient;
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number;
  #listener: Deno.TcpListener;
  #resolve: Resolve;
  #check: Check;
  #connectTimeout: number;
  /** Only our own client knows these: another local process cannot use the proxy. */
  #user = crypto.randomUUID();
  #password = crypto.randomUUID();
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #closing = new AbortController();
  #accepting: Promise<void>;
  #closed: Promise<void> | undefined;
  /** Why the latest connections to each `host:port` were refused. */
  #refusals = new Map<string, string>();

  /**
   * Starts the proxy on a free port of 127.0.0.1.
   *
   * @param options The resolver, the check and the connect timeout; the defaults are those of
   * `--deny-private`.
   * @throws {Error} When net permission to listen on 127.0.0.1 is missing.
   */
  constructor(options: EgressGuardOptions = {}) {
    this.#resolve = options.resolve ?? systemResolve;
    this.#check = options.check ?? checkPublic;
    this.#connectTimeout = options.connectTimeout ?? 30_000;
    try {
      this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
      ) {
        throw error;
      }
      throw new Error(
        `Cannot guard connections (--deny-private): it needs --allow-net for every host, to listen on 127.0.0.1 and connect to the addresses it checked (${error.message})`,
        { cause: error },
      );
    }
    this.port = this.#listener.addr.port;
    this.client = Deno.createHttpClient({
      proxy: {
        transport: "socks5",
        url: `socks5h://127.0.0.1:${this.port}`,
        basicAuth: { username: this.#user, password: this.#password },
      },
    });
    this.#accepting = this.#accept();
  }

  /**
   * Tells whether a failed fetch of `url` was refused by this guard, and why.
   *
   * @param url The URL whose fetch failed.
   * @param error What the fetch threw.
   * @returns The check's sentence, e.g. `refused: a.example resolves to 127.0.0.1 (loopback),
   * a private address (--deny-private)`, or `undefined` when the guard did not refuse it.
   */
  refusal(url: string | URL, error: unknown): string | undefined {
    if (!(error instanceof TypeError) || !NOT_ALLOWED.test(describe(error))) return undefined;
    const target = typeof url === "string" ? new URL(url) : url;
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    return this.#refusals.get(key(target.hostname, port)) ??
      `refused: ${target.hostname} was refused at connect time (--deny-private)`;
  }

  /** Closes the listener, every connection and the client; waits for them to end. */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      this.#closing.abort();
      this.client.close();
      this.#listener.close();
      for (const conn of this.#conns) closeQuietly(conn);
      await this.#accepting;
      await Promise.allSettled([...this.#tasks]);
    })();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#closing.signal.aborted) {
          closeQuietly(conn);
          continue;
        }
        const task = this.#serve(conn)
          .catch(() => {})
          .finally(() => this.#tasks.delete(task));
        this.#tasks.add(task);
      }
    } catch {
      // The listener was closed.
    }
  }

  /** One client connection: the handshake, the check, the connection, then the relay. */
  async #serve(conn: Deno.Conn): Promise<void> {
    this.#track(conn);
    let upstream: Deno.TcpConn | undefined;
    try {
      const reader = new Reader(conn);
      const timer = setTimeout(() => closeQuietly(conn), HANDSHAKE_TIMEOUT);
      let target: { host: string; port: number } | undefined;
      try {
        if (!await this.#greet(conn, reader)) return;
        target = await readRequest(conn, reader);
      } finally {
        clearTimeout(timer);
      }
      if (!target) return;
      const dialed = await this.#dial(target.host, target.port);
      if (typeof dialed === "number") return void await reply(conn, dialed);
      upstream = dialed;
      this.#track(upstream);
      await reply(conn, REPLY.ok);
      const early = reader.rest();
      if (early.byteLength > 0) await writeAll(upstream, early);
      await relayBoth(conn, upstream);
    } finally {
      this.#untrack(conn);
      if (upstream) this.#untrack(upstream);
    }
  }

  /** Agrees on username/password authentication and checks ours; `false` ends the connection. */
  async #greet(conn: Deno.Conn, reader: Reader): Promise<boolean> {
    const [version, count] = await reader.take(2);
    if (version !== 5) return false;
    const methods = await reader.take(count!);
    if (!methods.includes(2)) {
      await writeAll(conn, new Uint8Array([5, 0xff]));
      return false;
    }
    await writeAll(conn, new Uint8Array([5, 2]));
    // RFC 1929: version 1, the user name, the password.
    const [, userLength] = await reader.take(2);
    const user = decoder.decode(await reader.take(userLength!));
    const [passwordLength] = await reader.take(1);
    const password = decoder.decode(await reader.take(passwordLength!));
    const ok = user === this.#user && password === this.#password;
    await writeAll(conn, new Uint8Array([1, ok ? 0 : 1]));
    return ok;
  }

  /**
   * Resolves and checks `host`, then connects to the first checked address that answers.
   * Returns the connection, or the SOCKS reply code of the failure.
   */
  async #dial(host: string, port: number): Promise<Deno.TcpConn | number> {
    let url: URL;
    try {
      url = new URL(`http://${host.includes(":") ? `[${host}]` : host}:${port}/`);
    } catch {
      this.#refuse(host, port, `refused: ${host} is not a host name (--deny-private)`);
      return REPLY.notAllowed;
    }
    // Everything below works with the URL's own form of the host, as fetch's URL has it.
    const name = url.hostname;
    const literal = name.startsWith("[") ? name.slice(1, -1) : isIPv4(name) ? name : undefined;
    let answers: string[] | undefined;
    const verdict = await this.#check(url, async (asked) => answers = await this.#resolve(asked));
    if (verdict !== true) {
      this.#refuse(name, port, verdict);
      return REPLY.notAllowed;
    }
    let addresses: string[];
    try {
      // Only the addresses the check saw are connected to; a check that did not resolve
      // (a test's) leaves the resolving to us.
      addresses = literal !== undefined ? [literal] : answers ?? await this.#resolve(name);
    } catch {
      return REPLY.hostUnreachable;
    }
    let code: number = REPLY.hostUnreachable;
    for (const address of addresses) {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), this.#connectTimeout);
      try {
        const signal = AbortSignal.any([timeout.signal, this.#closing.signal]);
        const upstream = await Deno.connect({ hostname: address, port, signal });
        upstream.setNoDelay(true);
        return upstream;
      } catch (error) {
        if (this.#closing.signal.aborted) return REPLY.failure;
        code = timeout.signal.aborted ? REPLY.timedOut : replyCode(error);
      } finally {
        clearTimeout(timer);
      }
    }
    return code;
  }

  #refuse(host: string, port: number, verdict: string): void {
    const at = key(host, port);
    this.#refusals.delete(at);
    this.#refusals.set(at, verdict);
    if (this.#refusals.size > MAX_REFUSALS) {
      this.#refusals.delete(this.#refusals.keys().next().value!);
    }
  }

  #track(conn: Deno.Conn): void {
    this.#conns.add(conn);
    if (this.#closing.signal.aborted) closeQuietly(conn);
  }

  #untrack(conn: Deno.Conn): void {
    this.#conns.delete(conn);
    closeQuietly(conn);
  }
}

const decoder = new TextDecoder();

/** The refusal map's key: the host as a URL spells it (IPv6 in brackets), and the port. */
function key(hostname: string, port: number): string {
  return `${hostname.toLowerCase()}:${port}`;
}

function isIPv4(host: string): boolean {
  return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host);
}

/** An error's message with its causes, e.g. fetch's TypeError and the proxy error under it. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let at = error, depth = 0; at !== undefined && depth < 5; depth++) {
    parts.push(at instanceof Error ? at.message : String(at));
    at = at instanceof Error ? at.cause : undefined;
  }
  return parts.join(": ");
}

/** Reads the CONNECT request: the host (a name, an IPv4 or an IPv6 address) and the port. */
async function readRequest(
  conn: Deno.Conn,
  reader: Reader,
): Promise<{ host: string; port: number } | undefined> {
  const [version, command, , type] = await reader.take(4);
  if (version !== 5) return undefined;
  let host: string;
  if (type === 1) {
    host = [...await reader.take(4)].join(".");
  } else if (type === 3) {
    const [length] = await reader.take(1);
    host = decoder.decode(await reader.take(length!));
  } else if (type === 4) {
    const bytes = await reader.take(16);
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    host = groups.join(":");
  } else {
    await reply(conn, REPLY.addressNotSupported);
    return undefined;
  }
  const [high, low] = await reader.take(2);
  if (command !== 1) {
    await reply(conn, REPLY.commandNotSupported);
    return undefined;
  }
  return { host, port: (high! << 8) | low! };
}

/** Sends a SOCKS5 reply; the bound address is not told (0.0.0.0:0). */
function reply(conn: Deno.Conn, code: number): Promise<void> {
  return writeAll(conn, new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
}

/** The SOCKS5 reply code for a failed `Deno.connect`. */
function replyCode(error: unknown): number {
  if (error instanceof Deno.errors.ConnectionRefused) return REPLY.connectionRefused;
  if (error instanceof Deno.errors.TimedOut) return REPLY.timedOut;
  const message = error instanceof Error ? error.message : String(error);
  if (/network is unreachable/i.test(message)) return REPLY.networkUnreachable;
  if (/no route|host is unreachable/i.test(message)) return REPLY.hostUnreachable;
  return REPLY.failure;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.byteLength;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Copies bytes from one connection to the other until the first one ends. */
async function relay(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER);
  for (;;) {
    const read = await from.read(buffer);
    if (read === null) return;
    await writeAll(to, buffer.subarray(0, read));
  }
}

/**
 * Relays both ways; when either side ends, both are closed. That suits HTTP: a server that closed
 * has said all it will, and a client that closed wants no more.
 */
async function relayBoth(client: Deno.Conn, upstream: Deno.Conn): Promise<void> {
  const up = relay(client, upstream).catch(() => {});
  const down = relay(upstream, client).catch(() => {});
  await Promise.race([up, down]);
  closeQuietly(client);
  closeQuietly(upstream);
  await Promise.all([up, down]);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** Reads exact numbers of bytes from a connection, keeping what came after. */
class Reader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #chunk = new Uint8Array(1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next `count` bytes; throws when the connection ends first. */
  async take(count: number): Promise<Uint8Array> {
    while (this.#buffer.byteLength < count) {
      const read = await this.#conn.read(this.#chunk);
      if (read === null) throw new Error("the client closed the connection during the handshake");
      const grown = new Uint8Array(this.#buffer.byteLength + read);
      grown.set(this.#buffer);
      grown.set(this.#chunk.subarray(0, read), this.#buffer.byteLength);
      this.#buffer = grown;
    }
    const taken = this.#buffer.slice(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return taken;
  }

  /** What was read past the handshake. */
  rest(): Uint8Array {
    return this.#buffer;
  }
}
