#!/usr/bin/env -S deno run -A
/**
 * The dataset benchmark: N small real (decodable) PNGs from `server.ts` on loopback, listed
 * as a `url,caption` CSV and as the same rows in Parquet, downloaded by downpour into a
 * WebDataset, with and without `--resize-mode border --image-size 256`. Each run is timed by
 * GNU time (wall, user+sys CPU, peak RSS) and checked: every tar is read by GNU tar and holds
 * every image. Not a test and never run in CI.
 *
 * img2dataset, the point of comparison, is not run: it installs from PyPI, which the
 * machine this was written on cannot reach. Its command for the same lists would be
 * `img2dataset --url_list list.csv --input_format csv --caption_col caption --output_format
 * webdataset --processes_count 2 --thread_count 64 --resize_mode border --image_size 256`.
 *
 * ```sh
 * deno run -A bench/dataset.ts [--images N] [--rounds R] [--tmp DIR]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { parquetWriteBuffer } from "../tests/npm_test_deps.ts";
import { GNU_TIME_FORMAT, type GnuTime, parseGnuTime } from "./gnu_time.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    images: { type: "string", default: "10000" },
    rounds: { type: "string", default: "1" },
    tmp: { type: "string", default: "/dev/shm" },
  },
});
const count = Number(args.values.images);
const rounds = Number(args.values.rounds);
const root = fileURLToPath(new URL("..", import.meta.url));
const work = await Deno.makeTempDir({ dir: args.values.tmp, prefix: "downpour-dataset-bench-" });

// The server runs in its own process, so that its CPU is not counted as downpour's.
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", `${root}server.ts`, "--images", String(count), "--port", "0"],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
let banner = "";
while (!/Listening on (\S+)/.test(banner)) banner += (await reader.read()).value ?? "";
const base = /Listening on (\S+)/.exec(banner)![1]!;
void reader.cancel().catch(() => {});

try {
  const urls = Array.from({ length: count }, (_, i) => new URL(`img/${i}.png`, base).href);
  // The server makes each PNG on its first request: ask for all of them once, untimed, so that
  // no run pays for that.
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < urls.length) await (await fetch(urls[next++]!)).arrayBuffer();
  }));
  const captions = urls.map((_, i) => `a synthetic picture, number ${i}`);
  const csv = `${work}/list.csv`;
  await Deno.writeTextFile(
    csv,
    "url,caption\n" + urls.map((url, i) => `${url},"${captions[i]}"`).join("\n") + "\n",
  );
  const parquet = `${work}/list.parquet`;
  await Deno.writeFile(
    parquet,
    new Uint8Array(parquetWriteBuffer({
      columnData: [
        { name: "url", type: "STRING", data: urls },
        { name: "caption", type: "STRING", data: captions },
      ],
      rowGroupSize: 2000,
    })),
  );

  const variants: { name: string; list: string; extra: string[] }[] = [
    { name: "CSV, no resize", list: csv, extra: [] },
    { name: "Parquet, no resize", list: parquet, extra: [] },
    {
      name: "CSV, border 256",
      list: csv,
      extra: ["--resize-mode", "border", "--image-size", "256"],
    },
    {
      name: "Parquet, border 256",
      list: parquet,
      extra: ["--resize-mode", "border", "--image-size", "256"],
    },
  ];
  const rows: string[] = [
    "| run | images/s | CPU ms/image | peak RSS MB | wall s |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const variant of variants) {
    const times: GnuTime[] = [];
    for (let round = 0; round < rounds; round++) {
      const out = `${work}/out`;
      await Deno.remove(out, { recursive: true }).catch(() => {});
      const timing = `${work}/time.txt`;
      const run = await new Deno.Command("/usr/bin/time", {
        args: [
          "-f",
          GNU_TIME_FORMAT,
          "-o",
          timing,
          Deno.execPath(),
          "run",
          // -A: Deno asks for all permissions to read files under /dev (/dev/shm).
          "-A",
          "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=100",
          `${root}cli.ts`,
          "-q",
          "-i",
          variant.list,
          "-o",
          out,
          "--caption-col",
          "caption",
          "--output-format",
          "webdataset",
          "--per-host",
          "64",
          ...variant.extra,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (run.code !== 0) {
        throw new Error(
          `${variant.name}: exit ${run.code}: ${new TextDecoder().decode(run.stderr)}`,
        );
      }
      times.push(parseGnuTime(await Deno.readTextFile(timing)));
      // Check: every tar is read by GNU tar, and the images are all there.
      let images = 0;
      for await (const entry of Deno.readDir(out)) {
        if (!entry.name.endsWith(".tar")) continue;
        const list = await new Deno.Command("tar", { args: ["-tf", `${out}/${entry.name}`] })
          .output();
        if (list.code !== 0) throw new Error(`${variant.name}: ${entry.name} is not a valid tar`);
        images += new TextDecoder().decode(list.stdout).split("\n")
          .filter((name) => /\.(png|jpg)$/.test(name)).length;
      }
      if (images !== count) throw new Error(`${variant.name}: ${images} of ${count} images`);
    }
    times.sort((a, b) => a.wall - b.wall);
    const median = times[Math.floor(times.length / 2)]!;
    const cpu = median.user + median.sys;
    rows.push(
      `| ${variant.name} | ${Math.round(count / median.wall)} | ${
        (cpu * 1000 / count).toFixed(2)
      } | ${Math.round(median.maxRssKb / 1024)} | ${median.wall.toFixed(2)} |`,
    );
  }
  console.log(
    `${count} PNGs of 4-40 KB from server.ts on loopback, WebDataset output, ` +
      `${rounds} round(s), median; 2 workers (one per core)\n`,
  );
  console.log(rows.join("\n"));
} finally {
  server.kill();
  await server.status;
  await Deno.remove(work, { recursive: true });
}
