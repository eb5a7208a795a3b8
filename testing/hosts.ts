#!/usr/bin/env -S deno run -A
/**
 * Several test servers at once, one per loopback address (`127.0.0.2`, `127.0.0.3`, …), each with
 * its own latency: a small stand-in for the many hosts, near and far, of a real list of URLs. Each
 * host is a {@linkcode serve} of `serve.ts` with `latencyMs` set, so every answer waits that long
 * before its headers are sent (a server-side delay standing in for the round trip).
 *
 * Command line (used by `demo.ts`, which runs it as its own process):
 *
 * ```sh
 * deno run -A testing/hosts.ts --hosts 12 --latency 10-150 --images 200
 * ```
 *
 * prints one line of JSON, `{"hosts":[{"url":"http://127.0.0.2:PORT/","latencyMs":10},…]}`, once
 * every host listens, and serves until SIGINT or SIGTERM.
 *
 * @example Three hosts, 5 to 25 ms
 * ```ts
 * import { serveHosts, spreadLatencies } from "./hosts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(spreadLatencies(3, 5, 25), [5, 15, 25]);
 * await using hosts = await serveHosts({ latencies: [5, 15, 25], images: 2 });
 * assert.equal(hosts.servers.length, 3);
 * assert.equal(hosts.servers[1]!.hostname, "127.0.0.3");
 * const response = await fetch(new URL("img/1.png", hosts.servers[2]!.url));
 * assert.equal(response.status, 200);
 * await response.body?.cancel();
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type FileServer, serve, type ServeOptions } from "./serve.ts";

/**
 * `count` latencies spread evenly from `min` to `max` milliseconds, rounded (all `min` when
 * `count` is 1).
 */
export function spreadLatencies(count: number, min: number, max: number): number[] {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`'count' must be a positive integer, got ${count}`);
  }
  if (!(min >= 0 && max >= min)) {
    throw new RangeError(`latencies must satisfy 0 <= min <= max, got ${min} and ${max}`);
  }
  return Array.from(
    { length: count },
    (_, i) => Math.round(count === 1 ? min : min + (max - min) * i / (count - 1)),
  );
}

/** Options of {@linkcode serveHosts}: one latency per host, and the rest of each server's. */
export interface HostsOptions extends Omit<ServeOptions, "hostname" | "latencyMs" | "signal"> {
  /** Each host's latency in milliseconds; as many hosts as latencies. */
  latencies: readonly number[];
  /** The last byte of the first address, `127.0.0.FIRST`. Default 2. */
  first?: number;
}

/** Running hosts, from {@linkcode serveHosts}. */
export interface Hosts {
  /** The servers, in the order of the latencies, on `127.0.0.FIRST`, `127.0.0.FIRST+1`, … */
  servers: FileServer[];
  /** Closes every server. */
  close(): Promise<void>;
  /** The same as {@linkcode Hosts.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts one test server per latency, on consecutive loopback addresses.
 *
 * @throws {RangeError} When there are more hosts than addresses left in `127.0.0.0/24`, or an
 * option of {@linkcode serve} is out of range.
 */
export async function serveHosts(options: HostsOptions): Promise<Hosts> {
  const { latencies, first = 2, ...rest } = options;
  if (!Number.isSafeInteger(first) || first < 1 || first + latencies.length > 255) {
    throw new RangeError(`${latencies.length} hosts from 127.0.0.${first} do not fit in /24`);
  }
  const servers: FileServer[] = [];
  const close = async () => void await Promise.all(servers.map((server) => server.close()));
  try {
    for (const [i, latencyMs] of latencies.entries()) {
      servers.push(await serve({ ...rest, hostname: `127.0.0.${first + i}`, latencyMs }));
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { servers, close, [Symbol.asyncDispose]: close };
}

/** Parses `MS` or `MIN-MAX`. */
export function parseLatencyRange(text: string): { min: number; max: number } | undefined {
  const match = /^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$/.exec(text);
  if (!match) return undefined;
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  return max >= min ? { min, max } : undefined;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      hosts: { type: "string", default: "12" },
      latency: { type: "string", default: "10-150" },
      images: { type: "string", default: "1000" },
      first: { type: "string", default: "2" },
    },
  });
  const range = parseLatencyRange(values.latency);
  const count = Number(values.hosts);
  if (!range || !Number.isSafeInteger(count) || count < 1) {
    console.error("hosts.ts: --hosts N (N >= 1) and --latency MS or MIN-MAX, please");
    Deno.exit(2);
  }
  const hosts = await serveHosts({
    latencies: spreadLatencies(count, range.min, range.max),
    images: Number(values.images),
    first: Number(values.first),
  });
  const latencies = spreadLatencies(count, range.min, range.max);
  console.log(JSON.stringify({
    hosts: hosts.servers.map((server, i) => ({ url: server.url.href, latencyMs: latencies[i] })),
  }));
  const signals = ["SIGINT", "SIGTERM"] as const;
  const stop = async () => {
    for (const name of signals) Deno.removeSignalListener(name, stop);
    await hosts.close();
  };
  for (const name of signals) Deno.addSignalListener(name, stop);
}
