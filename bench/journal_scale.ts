/**
 * The journal at scale: a re-run into a directory whose journal holds N records (10,000,000 by
 * default). It writes a synthetic v2 journal of N saved entries (plus 1 in 10 failed), the files
 * of the first 10,000 of them, and a list of those 10,000 followed by 100 new URLs; then runs the
 * command over that list under GNU time and reports:
 *
 * - the first-request delay: from spawning the process to the first request at the local
 *   server (the index of the journal is built before any URL is admitted);
 * - the peak RSS of the whole run (GNU time's %M);
 * - that the 10,000 saved URLs were skipped and the 100 new ones fetched.
 *
 * Usage: `deno run -A bench/journal_scale.ts [--records N] [--dir /dev/shm/x]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Fnv64, hashHex } from "../src/hash.ts";
import { GNU_TIME_FORMAT, parseGnuTime } from "./gnu_time.ts";
import { syntheticPng } from "../testing/png.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "10000000" },
    dir: { type: "string", default: "/dev/shm/downpour-journal-scale" },
    keep: { type: "boolean", default: false },
  },
});
const records = Number(values.records);
const dir = values.dir!;
const out = `${dir}/out`;
const SAVED_FILES = Math.min(10_000, records);
const NEW_URLS = 100;

const png = await syntheticPng(1);
let firstRequest = 0;
let requests = 0;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
  if (requests++ === 0) firstRequest = performance.now();
  return new Response(png, { headers: { "content-type": "image/png" } });
});
const origin = `http://127.0.0.1:${server.addr.port}`;

await Deno.remove(dir, { recursive: true }).catch(() => {});
await Deno.mkdir(out, { recursive: true });

// The journal: written in 8 MiB pieces; the hash field is the allocator's name hash.
const started = performance.now();
const journal = await Deno.open(`${out}/.downpour-journal.jsonl`, { write: true, create: true });
const encoder = new TextEncoder();
const hash = new Fnv64();
const at = new Date().toISOString();
let chunk: string[] = ['{"downpour-journal":2}'];
let size = 0;
for (let i = 0; i < records; i++) {
  const name = `${i}.png`;
  hash.reset().update(name);
  const url = `${origin}/img/${name}`;
  const h = hashHex(hash.hi, hash.lo);
  const line = i % 10 === 9
    ? `{"h":"${h}","ok":false,"url":"${url}","name":"${name}","path":"${name}","status":503,"reason":"http","error":"the server answered 503","at":"${at}","input":{"url":"${url}"}}`
    : `{"h":"${h}","ok":true,"url":"${url}","name":"${name}","path":"${name}","bytes":${png.length},"at":"${at}"}`;
  chunk.push(line);
  size += line.length;
  if (size > 8 << 20) {
    await journal.write(encoder.encode(chunk.join("\n") + "\n"));
    chunk = [];
    size = 0;
  }
}
await journal.write(encoder.encode(chunk.join("\n") + "\n"));
journal.close();
const bytes = (await Deno.stat(`${out}/.downpour-journal.jsonl`)).size;

// The files of the first saved entries, and the list: those, then new URLs.
const list: string[] = [];
for (let i = 0; i < SAVED_FILES; i++) {
  if (i % 10 === 9) continue;
  await Deno.writeFile(`${out}/${i}.png`, png);
  list.push(`${origin}/img/${i}.png`);
}
for (let i = 0; i < NEW_URLS; i++) list.push(`${origin}/new/${i}.png`);
await Deno.writeTextFile(`${dir}/list.txt`, list.join("\n") + "\n");
console.log(
  `wrote ${records.toLocaleString("en")} records (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${
    ((performance.now() - started) / 1000).toFixed(1)
  } s`,
);

const cli = new URL("../cli.ts", import.meta.url).pathname;
const timeFile = `${dir}/time.txt`;
const spawned = performance.now();
const run = await new Deno.Command("/usr/bin/time", {
  args: [
    "-f",
    GNU_TIME_FORMAT,
    "-o",
    timeFile,
    Deno.execPath(),
    "run",
    "-A",
    "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=100", // as installed (the README's install line, the shebang)
    cli,
    "-o",
    out,
    "-i",
    `${dir}/list.txt`,
    "-q",
    "--json",
  ],
  stdout: "piped",
  stderr: "piped",
}).output();
const time = parseGnuTime(await Deno.readTextFile(timeFile));
const results = new TextDecoder().decode(run.stdout).trim().split("\n").map((l) => JSON.parse(l));
const skipped = results.filter((r) => r.skipped === "journal").length;
const saved = results.filter((r) => r.ok && !r.skipped).length;
console.log(
  JSON.stringify({
    records,
    journalMiB: Math.round(bytes / 2 ** 20),
    exitCode: run.code,
    firstRequestSeconds: firstRequest ? +((firstRequest - spawned) / 1000).toFixed(2) : null,
    wallSeconds: time.wall,
    peakRssMiB: Math.round(time.maxRssKb / 1024),
    skipped,
    saved,
    requests,
  }),
);
if (run.code !== 0) console.error(new TextDecoder().decode(run.stderr));
await server.shutdown();
if (!values.keep) await Deno.remove(dir, { recursive: true });
