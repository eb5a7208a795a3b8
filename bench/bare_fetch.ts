/**
 * The floor downpour is measured against: a bare loop of `fetch` and `Deno.writeFile`, with no
 * checks, journal, retries or scheduling, split over W Web Workers with C loops each.
 *
 * ```sh
 * /usr/bin/time -f '%e s %U+%S cpu %M KB' deno run -A bench/bare_fetch.ts LIST OUT [W] [C]
 * ```
 *
 * Run it against the same nginx and list as `bench/compare.ts` (its `--keep` keeps them).
 *
 * @module
 */

if (import.meta.main && !("WorkerGlobalScope" in globalThis)) {
  const [list, out, w = "2", c = "16"] = Deno.args;
  if (!list || !out) {
    console.error("usage: deno run -A bench/bare_fetch.ts LIST OUT [WORKERS] [LOOPS]");
    Deno.exit(2);
  }
  const urls = (await Deno.readTextFile(list)).trim().split("\n");
  await Deno.mkdir(out, { recursive: true });
  const workers = Number(w);
  const per = Math.ceil(urls.length / workers);
  await Promise.all(Array.from({ length: workers }, (_, k) =>
    new Promise<void>((resolve) => {
      const worker = new Worker(import.meta.url, { type: "module" });
      worker.onmessage = () => {
        worker.terminate();
        resolve();
      };
      worker.postMessage({
        urls: urls.slice(k * per, (k + 1) * per),
        out,
        loops: Number(c),
      });
    })));
} else if ("WorkerGlobalScope" in globalThis) {
  const scope = self as unknown as Worker;
  scope.onmessage = async (event: MessageEvent) => {
    const { urls, out, loops } = event.data as { urls: string[]; out: string; loops: number };
    let next = 0;
    await Promise.all(Array.from({ length: loops }, async () => {
      while (next < urls.length) {
        const i = next++;
        const response = await fetch(urls[i]!);
        const name = new URL(urls[i]!).pathname.split("/").pop()!;
        await Deno.writeFile(`${out}/${name}`, await response.bytes());
      }
    }));
    scope.postMessage("done");
  };
}
