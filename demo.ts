#!/usr/bin/env -S deno run -A
/**
 * The classic experiment, end to end and on loopback only, on a workload like the field's: many
 * hosts, each far away. A child process runs the project's test server (`serve()` of server.ts)
 * once per loopback address, 127.0.0.2, 127.0.0.3, …, each with its own latency (a delay before
 * the response headers, standing in for the round trip). The demo downloads N and then 2N
 * synthetic PNGs spread over those hosts, first sequentially (downpour with 1 worker, 1 in
 * flight, 1 per host) and then in parallel with downpour's defaults, checks every file byte for
 * byte against the PNG the server generated, and prints the times, the bound that latency puts on
 * them (in flight ÷ latency), the speed-up and how the time grows with N.
 *
 * `deno task demo [--files N] [--hosts H] [--latency MS | MIN-MAX] [--per-host N]`
 *
 * Defaults: 100 files, 12 hosts, latencies spread evenly from 10 to 150 ms.
 *
 * Exit status: 0 when every file was saved and verified, 1 otherwise, 2 for a usage error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULTS, download, type DownloadOptions, summarize } from "./mod.ts";
import { parseLatencyRange } from "./testing/hosts.ts";
import { syntheticPng } from "./testing/png.ts";
import { readBanner } from "./testing/streams.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string" },
    n: { type: "string" }, // the old name of --files
    hosts: { type: "string", default: "12" },
    latency: { type: "string", default: "10-150" },
    "per-host": { type: "string" },
  },
});
function usage(message: string): never {
  console.error(`demo: ${message}`);
  Deno.exit(2);
}
const n = Number(values.files ?? values.n ?? "100");
if (!Number.isSafeInteger(n) || n < 1) usage(`--files must be a positive whole number`);
const hostCount = Number(values.hosts);
if (!Number.isSafeInteger(hostCount) || hostCount < 1 || hostCount > 200) {
  usage("--hosts must be a whole number from 1 to 200");
}
const range = parseLatencyRange(values.latency);
if (!range) usage(`--latency must be MS or MIN-MAX, got '${values.latency}'`);
const perHost = values["per-host"] === undefined ? undefined : Number(values["per-host"]);
if (perHost !== undefined && (!Number.isSafeInteger(perHost) || perHost < 1)) {
  usage("--per-host must be a positive whole number");
}

// The servers run in their own process, as real ones would.
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    new URL("./testing/hosts.ts", import.meta.url).pathname,
    "--hosts",
    String(hostCount),
    "--latency",
    `${range.min}-${range.max}`,
    "--images",
    String(2 * n),
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
const banner = await readBanner(reader);
let hosts: { url: string; latencyMs: number }[];
try {
  hosts = JSON.parse(banner).hosts;
} catch {
  console.error(`demo: the servers did not start: ${banner}`);
  server.kill("SIGTERM");
  Deno.exit(1);
}

// File i comes from host i mod H, so every host gets its share of every run.
const urls = (count: number) =>
  Array.from({ length: count }, (_, i) => new URL(`img/${i}.png`, hosts[i % hosts.length]!.url));
const meanLatency = (count: number) =>
  Array.from({ length: count }, (_, i) => hosts[i % hosts.length]!.latencyMs)
    .reduce((a, b) => a + b, 0) / count;

let verified = 0;
async function verify(dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const [saved, expected] = await Promise.all([
      Deno.readFile(`${dir}/${i}.png`),
      syntheticPng(i),
    ]);
    if (saved.length !== expected.length || !saved.every((byte, j) => byte === expected[j])) {
      throw new Error(`${dir}/${i}.png differs from what the server sent`);
    }
    verified++;
  }
}

interface Row {
  name: string;
  files: number;
  seconds: number;
}

async function timed(
  name: string,
  count: number,
  options: Omit<DownloadOptions, "out">,
  check = true,
): Promise<Row> {
  const out = await Deno.makeTempDir({ prefix: "downpour-demo-" });
  try {
    const summary = await summarize(download(urls(count), { ...options, out }));
    if (summary.saved !== count) {
      throw new Error(
        `${name}: saved ${summary.saved} of ${count} (${JSON.stringify(summary.failures)})`,
      );
    }
    if (check) await verify(out, count);
    return { name, files: count, seconds: summary.ms / 1000 };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

const cores = navigator.hardwareConcurrency;
const parallel = { ...(perHost ? { perHost } : {}) };
const sequential = { workers: 1, concurrency: 1, perHost: 1 };
const slots = cores * DEFAULTS.concurrency;
const inFlight = Math.min(slots, hostCount * (perHost ?? DEFAULTS.perHost));
const mean = meanLatency(2 * n);
const ms = (x: number) => `${Math.round(x)} ms`;
let status = 0;
try {
  const first = new URL(hosts[0]!.url).hostname;
  const last = new URL(hosts.at(-1)!.url).hostname;
  console.log(
    `downpour demo: ${n} then ${2 * n} synthetic PNGs from ${hostCount} loopback host${
      hostCount === 1 ? "" : "s"
    } (${first}${hostCount > 1 ? ` to ${last}` : ""}), ${cores} cores`,
  );
  console.log(
    `Emulated latency: each host waits ${
      range.min === range.max ? ms(range.min) : `from ${ms(range.min)} to ${ms(range.max)}`
    } before its response headers (mean ${ms(mean)} over the files).`,
  );
  console.log(
    `Sequential: 1 worker x 1 in flight, 1 per host; bound 1 / ${ms(mean)} = ${
      (1000 / mean).toFixed(1)
    } files/s.`,
  );
  console.log(
    `Parallel (the defaults): ${cores} workers x ${DEFAULTS.concurrency} in flight, ${
      perHost ?? DEFAULTS.perHost
    } per host; bound ${inFlight} / ${ms(mean)} = ${Math.round(inFlight * 1000 / mean)} files/s.`,
  );
  // Untimed warm-up, so that both modes fetch from servers with every image already made.
  await timed("warm-up", 2 * n, parallel, false);
  const rows = [
    await timed("sequential", n, sequential),
    await timed("sequential", 2 * n, sequential),
    await timed("parallel", n, parallel),
    await timed("parallel", 2 * n, parallel),
  ];
  const pad = (text: string | number, width: number) => String(text).padStart(width);
  console.log(
    `\n${"mode".padEnd(12)}${pad("files", 7)}${pad("seconds", 10)}${pad("files/s", 10)}${
      pad("bound", 8)
    }${pad("speed-up", 10)}`,
  );
  for (const row of rows) {
    const base = rows.find((r) => r.name === "sequential" && r.files === row.files)!;
    const bound = (row.name === "sequential" ? 1 : inFlight) * 1000 / mean;
    console.log(
      `${row.name.padEnd(12)}${pad(row.files, 7)}${pad(row.seconds.toFixed(2), 10)}${
        pad((row.files / row.seconds).toFixed(1), 10)
      }${pad(bound.toFixed(bound < 100 ? 1 : 0), 8)}${
        pad((base.seconds / row.seconds).toFixed(1) + "x", 10)
      }`,
    );
  }
  const growth = (name: string) => {
    const [small, large] = rows.filter((r) => r.name === name);
    return large!.seconds / small!.seconds;
  };
  const [small, large] = rows.filter((r) => r.name === "parallel");
  const fixed = 2 * small!.seconds - large!.seconds;
  const perFile = (large!.seconds - small!.seconds) / n;
  console.log(
    `\nLinearity, time(2N) / time(N): sequential ${growth("sequential").toFixed(2)}, parallel ${
      growth("parallel").toFixed(2)
    } (2.00 = linear).`,
  );
  console.log(
    `A parallel run this short has a fixed part, 2 t(N) - t(2N) = ${
      fixed.toFixed(2)
    } s (start-up, and the last round trips to the slowest host); the rest grows linearly, ${
      (perFile * 1000).toFixed(2)
    } ms a file (sequential: ${
      ((rows[1]!.seconds - rows[0]!.seconds) / n * 1000).toFixed(1)
    } ms a file).`,
  );
  const total = 3 * n * 2;
  console.log(`Verified: ${verified} of ${total} files byte for byte.`);
  if (verified !== total) status = 1;
} catch (error) {
  console.error(`demo: ${error instanceof Error ? error.message : error}`);
  console.log(`Verified: ${verified} files before the failure.`);
  status = 1;
} finally {
  await reader.cancel();
  server.kill("SIGTERM");
  await server.status;
}
Deno.exit(status);
