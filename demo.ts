#!/usr/bin/env -S deno run -A
/**
 * The classic experiment, end to end and on loopback only: start server.ts with synthetic PNGs,
 * download N and then 2N of them, first sequentially (1 worker, 1 in flight) and then in
 * parallel with the defaults, check every file, and print the times.
 *
 * `deno task demo [--n N] [--per-host N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULTS, download, type DownloadOptions, summarize } from "./mod.ts";
import { syntheticPng } from "./testing/png.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { n: { type: "string", default: "2000" }, "per-host": { type: "string" } },
});
const n = Number(values.n);
if (!Number.isSafeInteger(n) || n < 1) {
  console.error(`demo: --n must be a positive whole number, got '${values.n}'`);
  Deno.exit(2);
}
const perHost = values["per-host"] === undefined ? undefined : Number(values["per-host"]);

// The server runs in its own process, as a real one would.
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    new URL("./server.ts", import.meta.url).pathname,
    "--port",
    "0",
    "--images",
    String(2 * n),
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
let banner = "";
while (!banner.includes("\n")) {
  const { done, value } = await reader.read();
  if (done) break;
  banner += value;
}
const base = banner.match(/https?:\/\/\S+/)?.[0];
if (!base) {
  console.error(`demo: the server did not start: ${banner}`);
  Deno.exit(1);
}
const urls = (count: number) =>
  Array.from({ length: count }, (_, i) => new URL(`img/${i}.png`, base));

async function verify(dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const [saved, expected] = await Promise.all([
      Deno.readFile(`${dir}/${i}.png`),
      syntheticPng(i),
    ]);
    if (saved.length !== expected.length || !saved.every((byte, j) => byte === expected[j])) {
      throw new Error(`${dir}/${i}.png differs from what the server sent`);
    }
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
): Promise<Row> {
  const out = await Deno.makeTempDir({ prefix: "downpour-demo-" });
  try {
    const summary = await summarize(download(urls(count), { ...options, out }));
    if (summary.saved !== count) {
      throw new Error(
        `${name}: saved ${summary.saved} of ${count} (${JSON.stringify(summary.failures)})`,
      );
    }
    await verify(out, count);
    return { name, files: count, seconds: summary.ms / 1000 };
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

const parallel = { ...(perHost ? { perHost } : {}) };
const cores = navigator.hardwareConcurrency;
try {
  console.log(`downpour demo: ${n} and ${2 * n} synthetic PNGs from ${base} (${cores} cores)`);
  // Untimed warm-up, so that both modes fetch from a server with every image already made.
  await timed("warm-up", 2 * n, parallel);
  const rows = [
    await timed("sequential", n, { workers: 1, concurrency: 1 }),
    await timed("sequential", 2 * n, { workers: 1, concurrency: 1 }),
    await timed("parallel", n, parallel),
    await timed("parallel", 2 * n, parallel),
  ];
  const pad = (text: string | number, width: number) => String(text).padStart(width);
  console.log(
    `\n${"mode".padEnd(12)}${pad("files", 8)}${pad("seconds", 10)}${pad("files/s", 10)}${
      pad("speed-up", 10)
    }`,
  );
  for (const row of rows) {
    const sequential = rows.find((r) => r.name === "sequential" && r.files === row.files)!;
    console.log(
      `${row.name.padEnd(12)}${pad(row.files, 8)}${pad(row.seconds.toFixed(2), 10)}${
        pad(Math.round(row.files / row.seconds), 10)
      }${pad((sequential.seconds / row.seconds).toFixed(2) + "x", 10)}`,
    );
  }
  const growth = (name: string) => {
    const [small, large] = rows.filter((r) => r.name === name);
    return large!.seconds / small!.seconds;
  };
  console.log(
    `\nTime for 2N / time for N: sequential ${growth("sequential").toFixed(2)}, parallel ${
      growth("parallel").toFixed(2)
    } (2.00 = linear).`,
  );
  console.log(
    `Parallel = the defaults: ${cores} workers x ${DEFAULTS.concurrency} in flight, ${
      perHost ?? DEFAULTS.perHost
    } per host. Every file was checked byte for byte.`,
  );
} finally {
  await reader.cancel();
  server.kill("SIGTERM");
  await server.status;
}
