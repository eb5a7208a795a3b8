/**
 * A worker's own cost per file: the worker's `fetchToFile` (redirects, screening, the one-go or
 * streamed body, the checks, the exclusive temporary file and its link) against a bare loop of
 * `fetch` and `Deno.writeFile`, each in one thread with 16 downloads at once, each in a fresh
 * process, in alternation, over the same list. Prints microseconds of wall time and CPU a file.
 *
 * ```sh
 * deno run -A bench/compare.ts --tmp /dev/shm --rounds 1 --large 0 --only bare --keep  # a list
 * nginx -c DIR/nginx/nginx.conf &                                                      # its server
 * deno run -A bench/fetch_cost.ts DIR/lists/small.txt /dev/shm/fetch-cost [ROUNDS]
 * ```
 *
 * Not a test and never run in CI. With `bench/engine_cost.ts` it splits downpour's time on
 * loopback into what a worker does and what the main thread does (see bench/README.md).
 *
 * @module
 */

import process from "node:process";
import { fetchToFile } from "../src/worker/fetch_file.ts";
import { Watch, Watchdog } from "../src/worker/watchdog.ts";
import type { WorkerConfig } from "../src/protocol.ts";
import { resolveOptions, workerConfig } from "../src/options.ts";

const LOOPS = 16;
const [list, out, third] = Deno.args;
if (!list || !out) {
  console.error("usage: deno run -A bench/fetch_cost.ts LIST OUT [ROUNDS]");
  Deno.exit(2);
}

if (third === "--bare" || third === "--fetch-to-file") {
  // One measured run, in this process.
  const urls = (await Deno.readTextFile(list)).trim().split("\n");
  await Deno.mkdir(out, { recursive: true });
  // The worker configuration of a run with the defaults, as the command makes it.
  const config: WorkerConfig = workerConfig(resolveOptions({ out }));
  const watchdog = new Watchdog();
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: LOOPS }, async () => {
    while (next < urls.length) {
      const id = next++;
      const href = urls[id]!;
      const path = href.slice(href.lastIndexOf("/") + 1);
      if (third === "--bare") {
        const response = await fetch(href);
        await Deno.writeFile(`${out}/${path}`, await response.bytes());
        continue;
      }
      const job = { id, href, path };
      const watch = new Watch(config);
      watchdog.add(watch);
      try {
        const outcome = await fetchToFile(job, config, watch);
        if (!outcome.ok) throw new Error(`${href}: ${outcome.error}`);
      } finally {
        watchdog.delete(watch);
      }
    }
  }));
  const used = process.cpuUsage(cpu);
  const per = (x: number) => (x / urls.length).toFixed(1);
  console.log(
    JSON.stringify({
      wall: per((performance.now() - started) * 1000),
      cpu: per(used.user + used.system),
    }),
  );
} else {
  const rounds = Number(third ?? 3);
  for (let round = 1; round <= rounds; round++) {
    const modes = round % 2 ? ["--bare", "--fetch-to-file"] : ["--fetch-to-file", "--bare"];
    for (const mode of modes) {
      await Deno.remove(out, { recursive: true }).catch(() => {});
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!, list, out, mode],
        stderr: "inherit",
      }).output();
      if (!run.success) Deno.exit(1);
      const { wall, cpu } = JSON.parse(new TextDecoder().decode(run.stdout));
      console.log(
        `round ${round}: ${mode.slice(2).padEnd(13)} ${wall} µs wall, ${cpu} µs CPU a file`,
      );
    }
  }
  await Deno.remove(out, { recursive: true }).catch(() => {});
}
