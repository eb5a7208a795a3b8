/**
 * The cost of `--deny-private`'s connect-time guard (`src/egress.ts`): one thread downloads N
 * small files from a loopback server through the worker's own `fetchToFile`, with C in flight,
 * in rounds that alternate between fetching directly and fetching through an `EgressGuard`.
 *
 * The guard refuses loopback, so here its check is replaced by one that allows everything: what
 * is measured is its resolving, its SOCKS handshake and its relaying of every byte, which is all
 * it adds to a download. (`--deny-private`'s pre-check, one DNS query per URL and hop, is there
 * with or without the guard and is not measured.) The server runs in a process of its own.
 *
 * ```sh
 * deno run -A bench/guard_cost.ts [N=5000] [ROUNDS=4] [C=16] [BYTES=4096]
 * ```
 *
 * Files are written under /dev/shm and removed after each round.
 *
 * Indicative figures (2 shared cores, other work running; three runs each): 4 KiB files, guard
 * 0.73–0.97 of direct files/s (about 8,000 vs 8,300–11,000); 40 KiB files, 0.68–0.80 (3,000–4,200
 * vs 4,500–5,300); the guard adds 0.02–0.035 ms of CPU per file.
 *
 * @module
 */

import process from "node:process";
import type { WorkerConfig } from "../src/protocol.ts";
import { resolveOptions, workerConfig } from "../src/options.ts";
import { EgressGuard } from "../src/egress.ts";
import { fetchToFile } from "../src/worker/fetch_file.ts";
import { Watch } from "../src/worker/watchdog.ts";
import { syntheticPng } from "../testing/png.ts";

if (Deno.args[0] === "--serve") {
  const bytes = Number(Deno.args[1] ?? 4096);
  const png = await syntheticPng(0, { minBytes: bytes, maxBytes: bytes });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(port) },
    () => new Response(png, { headers: { "content-type": "image/png" } }),
  );
  await server.finished;
} else if (import.meta.main) {
  const [n = 5000, rounds = 4, c = 16, bytes = 4096] = Deno.args.map(Number);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--serve", String(bytes)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value!.trim());
  // "localhost" is a name, as real URLs have: with the guard it resolves it, without, fetch does.
  const base = `http://localhost:${port}`;
  const shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "guard-cost-" });

  const round = async (label: "direct" | "guard", count: number) => {
    const out = `${shm}/${label}`;
    // The worker configuration of a run with the defaults, as the command makes it.
    const config: WorkerConfig = workerConfig(resolveOptions({ out }));
    await using guard = label === "guard"
      ? new EgressGuard({ check: () => Promise.resolve(true) })
      : undefined;
    let next = 0;
    let failed = 0;
    let problem = "";
    await Deno.mkdir(out);
    const cpu = process.cpuUsage();
    const start = performance.now();
    await Promise.all(Array.from({ length: c }, async () => {
      while (next < count) {
        const id = next++;
        const job = { id, href: `${base}/${id}.png`, path: `${id}.png` };
        const outcome = await fetchToFile(job, config, new Watch(config), guard);
        if (!outcome.ok) {
          failed++;
          problem ||= outcome.error ?? "";
        }
      }
    }));
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    await Deno.remove(out, { recursive: true });
    if (failed > 0) throw new Error(`${label}: ${failed} of ${count} failed, e.g. ${problem}`);
    return { rate: count / seconds, cpuPerFile: (used.user + used.system) / 1000 / count };
  };

  try {
    await round("direct", 200); // warm-up, untimed
    await round("guard", 200);
    const rates: Record<string, number[]> = { direct: [], guard: [] };
    const cpus: Record<string, number[]> = { direct: [], guard: [] };
    for (let r = 0; r < rounds; r++) {
      // ABBA order, so neither always goes first.
      const order = r % 2 === 0 ? ["direct", "guard"] as const : ["guard", "direct"] as const;
      for (const label of order) {
        const { rate, cpuPerFile } = await round(label, n);
        rates[label]!.push(rate);
        cpus[label]!.push(cpuPerFile);
        console.log(
          `round ${r + 1} ${label.padEnd(6)} ${rate.toFixed(0).padStart(6)} files/s, ` +
            `${cpuPerFile.toFixed(3)} ms CPU per file`,
        );
      }
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const [direct, guarded] = [median(rates.direct!), median(rates.guard!)];
    const extraCpu = median(cpus.guard!) - median(cpus.direct!);
    console.log(
      `median: direct ${direct.toFixed(0)} files/s, guard ${guarded.toFixed(0)} files/s, ` +
        `ratio ${(guarded / direct).toFixed(2)}; the guard adds ${
          extraCpu.toFixed(3)
        } ms CPU per file (${n} files of ${bytes} B, ${c} in flight, one thread)`,
    );
  } finally {
    child.kill();
    await child.status;
    await reader.cancel();
    await Deno.remove(shm, { recursive: true });
  }
}
