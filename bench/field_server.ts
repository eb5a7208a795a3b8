/**
 * The field benchmark's servers: an internet-like set of hosts on loopback, for `field.ts`.
 *
 * - `hosts` hosts (default 24) on `127.0.0.FIRST`, `127.0.0.FIRST+1`, … (FIRST defaults to 101),
 *   each its own `Deno.serve` on a free port. Each host waits its own delay, from 10 to 150 ms
 *   spread over the hosts, before it sends a response's headers: a server-side delay standing in
 *   for the round trip (connection set-up and TLS handshakes get no extra delay).
 * - The URLs (default 5,000) are spread over the hosts by a Zipf law (weight 1/rank): the
 *   first host gets about a quarter of them, the last about 1%. URL `i` is
 *   `SCHEME://127.0.0.x:PORT/f/{i}.png`; its file is `{i}.png`, fake PNG bytes of 2 to 40 KB
 *   (a PNG signature and pseudo-random bytes, the same for the same seed).
 * - Fates of URLs, by a hash of `i` and the seed: 3% answer 404 always, 3% answer 503 to their
 *   first request only, 1% redirect (302) to `/g/{i}.png` on the same host (same file name).
 * - Roles of hosts, by Zipf rank: rank 3 stalls 10% of its requests (headers, then nothing for
 *   `stallSeconds`, default 120, then the connection is cut); rank 5 answers 429 with
 *   `Retry-After: 2` to any request beyond 4 in flight or 20 in the last second, and to any
 *   request that comes inside a Retry-After window it announced (each 429 opens or extends it
 *   from the moment it is sent);
 *   ranks 4, 8 and 13 are slow links, sending each body at 100 KB/s; rank 7 refuses
 *   connections (a port with nothing listening); ranks 2, 4, 6, 9, 12, 15, 18, 21 and 24 speak
 *   HTTPS (HTTP/1.1 and h2), with a certificate from the benchmark's own CA. `clean: true` makes
 *   the stalling and rate-limiting hosts ordinary ones.
 *
 * The server counts, per run (see {@linkcode FieldServer.reset}), the requests, the 429s it sent
 * and the requests that arrived inside a Retry-After window.
 *
 * @module
 */

import { fmix32 } from "../src/hash.ts";

/** One host of the field. */
export interface FieldHost {
  /** Zipf rank, from 1. */
  rank: number;
  /** Origin with a trailing slash. */
  origin: string;
  /** Server-side delay before the headers, ms. */
  latencyMs: number;
  tls: boolean;
  role: "normal" | "stall" | "rate-limit" | "slow" | "refused";
}

/** One URL of the list. */
export interface FieldUrl {
  url: string;
  /** The file name a downloader should save it under. */
  name: string;
  host: FieldHost;
  fate: "ok" | "404" | "503-once" | "redirect";
  /** Whether a correct client can get it: not a 404, not on the refused host. */
  obtainable: boolean;
}

/** Per-run counts, from {@linkcode FieldServer.stats}. */
export interface FieldStats {
  requests: number;
  sent429: number;
  insideRetryAfter: number;
  stalled: number;
}

export interface FieldOptions {
  urls?: number;
  hosts?: number;
  first?: number;
  seed?: number;
  stallSeconds?: number;
  clean?: boolean;
  /** PEM certificate chain and key for the TLS hosts (a leaf for every 127.0.0.x they use). */
  cert: string;
  key: string;
}

export interface FieldServer {
  hosts: FieldHost[];
  urls: FieldUrl[];
  /** The bytes the server serves for URL `i`. */
  expected(i: number): Uint8Array;
  /** Zeroes the counts and forgets which URLs were asked for; ends stalled bodies. */
  reset(): void;
  stats(): FieldStats;
  close(): Promise<void>;
}

const STALL_RANK = 3;
const RATE_RANK = 5;
const REFUSED_RANK = 7;
const SLOW_RANKS = new Set([4, 8, 13]);
const TLS_RANKS = new Set([2, 4, 6, 9, 12, 15, 18, 21, 24]);
const SLOW_BYTES_PER_SECOND = 100_000;
const RETRY_AFTER_S = 2;
const MAX_INFLIGHT = 4;
const MAX_PER_SECOND = 20;

/** A 32-bit hash of two integers (murmur3's finalizer). */
function hash2(a: number, b: number): number {
  return fmix32(Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35));
}
const unit = (a: number, b: number) => hash2(a, b) / 2 ** 32;

/** Fake PNG bytes for file `i`: the signature, then pseudo-random bytes; 2,000 to 40,000 long. */
function fakeFile(i: number, seed: number): Uint8Array {
  const size = 2_000 + (hash2(seed * 7919 + 1, i) % 38_001);
  const bytes = new Uint8Array(Math.ceil(size / 4) * 4);
  const words = new Uint32Array(bytes.buffer);
  let state = hash2(seed, i) | 1;
  for (let w = 0; w < words.length; w++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[w] = state >>> 0;
  }
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes.subarray(0, size);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message, {
    status,
    headers: { "content-type": "text/plain", ...headers },
  });
}

/** Starts the field. */
export function startField(options: FieldOptions): FieldServer {
  const count = options.urls ?? 5000;
  const hostCount = options.hosts ?? 24;
  const first = options.first ?? 101;
  const seed = options.seed ?? 1;
  const stallMs = (options.stallSeconds ?? 120) * 1000;
  if (hostCount < REFUSED_RANK || first + hostCount > 255) {
    throw new RangeError(`hosts must be from ${REFUSED_RANK} to ${254 - first}`);
  }

  // Latencies from 10 to 150 ms, spread over the hosts in an order unrelated to their rank
  // (a stride coprime with the count).
  let stride = 7;
  while (gcd(stride, hostCount) !== 1) stride++;
  const latencyOf = (k: number) =>
    Math.round(10 + 140 * ((k * stride) % hostCount) / Math.max(1, hostCount - 1));

  const controllers = new Set<() => void>(); // ends stalled bodies
  const servers: Deno.HttpServer[] = [];
  let run: FieldStats = { requests: 0, sent429: 0, insideRetryAfter: 0, stalled: 0 };
  let asked = new Map<number, number>(); // URL index -> requests so far
  let limiter = { inflight: 0, arrivals: [] as number[], blockedUntil: 0 };

  const hosts: FieldHost[] = [];
  const ports: number[] = [];
  for (let k = 0; k < hostCount; k++) {
    const rank = k + 1;
    const role: FieldHost["role"] = rank === REFUSED_RANK
      ? "refused"
      : rank === STALL_RANK && !options.clean
      ? "stall"
      : rank === RATE_RANK && !options.clean
      ? "rate-limit"
      : SLOW_RANKS.has(rank)
      ? "slow"
      : "normal";
    const tls = TLS_RANKS.has(rank) && role !== "refused";
    hosts.push({ rank, origin: "", latencyMs: latencyOf(k), tls, role });
    ports.push(0);
  }

  // Zipf over the hosts, then each URL's host and fate.
  const weights = hosts.map((h) => 1 / h.rank);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  weights.reduce((sum, w, k) => (cumulative[k] = sum + w / total), 0);
  const urls: FieldUrl[] = [];
  const files: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const u = unit(seed * 31 + 5, i);
    let k = cumulative.findIndex((c) => u < c);
    if (k < 0) k = hostCount - 1;
    const f = unit(seed * 31 + 9, i);
    const fate: FieldUrl["fate"] = f < 0.03
      ? "404"
      : f < 0.06
      ? "503-once"
      : f < 0.07
      ? "redirect"
      : "ok";
    const host = hosts[k]!;
    urls.push({
      url: "",
      name: `${i}.png`,
      host,
      fate,
      obtainable: fate !== "404" && host.role !== "refused",
    });
    files.push(fakeFile(i, seed));
  }

  function body(
    bytes: Uint8Array,
    slow: boolean,
    done: () => void,
  ): ReadableStream<Uint8Array> {
    let offset = 0;
    let finished = false;
    const finish = () => {
      if (!finished) (finished = true, done());
    };
    const chunk = slow ? 10_000 : bytes.length;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (slow && offset > 0) await sleep(1000 * chunk / SLOW_BYTES_PER_SECOND);
        if (finished) return;
        controller.enqueue(bytes.slice(offset, offset + chunk));
        offset += chunk;
        if (offset >= bytes.length) {
          controller.close();
          finish();
        }
      },
      cancel: finish,
    });
  }

  function stalledBody(done: () => void): ReadableStream<Uint8Array> {
    let stop: (() => void) | undefined;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        const timer = setTimeout(() => stop?.(), stallMs);
        stop = () => {
          clearTimeout(timer);
          controllers.delete(stop!);
          done();
          try {
            controller.close(); // short of Content-Length: the connection is cut
          } catch { /* already closed */ }
        };
        controllers.add(stop);
      },
      cancel() {
        stop?.();
      },
    });
  }

  const PATH = /^\/([fg])\/(\d{1,9})\.png$/;

  function handler(host: FieldHost) {
    return async (request: Request): Promise<Response> => {
      run.requests++;
      const now = performance.now();
      let release = () => {};
      if (host.role === "rate-limit") {
        const inside = now < limiter.blockedUntil;
        if (inside) run.insideRetryAfter++;
        limiter.arrivals = limiter.arrivals.filter((t) => t > now - 1000);
        limiter.arrivals.push(now);
        if (
          inside || limiter.inflight >= MAX_INFLIGHT ||
          limiter.arrivals.length > MAX_PER_SECOND
        ) {
          run.sent429++;
          await sleep(host.latencyMs);
          // The window opens when the 429 leaves, not when the request came: a request sent
          // before the client could know is not counted against it.
          limiter.blockedUntil = Math.max(
            limiter.blockedUntil,
            performance.now() + RETRY_AFTER_S * 1000,
          );
          return text(429, "too many requests\n", { "retry-after": String(RETRY_AFTER_S) });
        }
        const current = limiter;
        current.inflight++;
        let released = false;
        release = () => {
          if (!released) (released = true, current.inflight--);
        };
      }
      try {
        await sleep(host.latencyMs);
        const match = PATH.exec(new URL(request.url).pathname);
        const i = match ? Number(match[2]) : -1;
        const entry = urls[i];
        if (!match || entry === undefined || entry.host !== host) {
          release();
          return text(404, "not found\n");
        }
        const n = asked.get(i) ?? 0;
        asked.set(i, n + 1);
        if (entry.fate === "404") return release(), text(404, "not found\n");
        if (entry.fate === "503-once" && n === 0) {
          release();
          return text(503, "service unavailable\n");
        }
        if (entry.fate === "redirect" && match[1] === "f") {
          release();
          return new Response(null, {
            status: 302,
            headers: { location: `${host.origin}g/${i}.png`, "content-length": "0" },
          });
        }
        const bytes = files[i]!;
        const headers = {
          "content-type": "image/png",
          "content-length": String(bytes.length),
        };
        if (request.method === "HEAD") return release(), new Response(null, { headers });
        if (host.role === "stall" && unit(seed * 31 + 13 + n, i) < 0.1) {
          run.stalled++;
          return new Response(stalledBody(release), { headers });
        }
        return new Response(body(bytes, host.role === "slow", release), { headers });
      } catch (error) {
        release();
        throw error;
      }
    };
  }

  for (const [k, host] of hosts.entries()) {
    const hostname = `127.0.0.${first + k}`;
    if (host.role === "refused") {
      const listener = Deno.listen({ hostname, port: 0 });
      ports[k] = (listener.addr as Deno.NetAddr).port;
      listener.close();
    } else {
      const server = Deno.serve({
        hostname,
        port: 0,
        onListen() {},
        ...(host.tls ? { cert: options.cert, key: options.key } : {}),
      }, handler(host));
      servers.push(server);
      ports[k] = server.addr.port;
    }
    host.origin = `${host.tls ? "https" : "http"}://${hostname}:${ports[k]}/`;
  }
  for (const [i, entry] of urls.entries()) entry.url = `${entry.host.origin}f/${i}.png`;

  function endStalls() {
    for (const stop of [...controllers]) stop();
  }

  return {
    hosts,
    urls,
    expected: (i) => files[i]!,
    reset() {
      endStalls();
      run = { requests: 0, sent429: 0, insideRetryAfter: 0, stalled: 0 };
      asked = new Map();
      limiter = { inflight: 0, arrivals: [], blockedUntil: 0 };
    },
    stats: () => ({ ...run }),
    async close() {
      endStalls();
      await Promise.all(servers.map((server) => server.shutdown()));
    },
  };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
