/**
 * What a request's options cost `fetch`: CPU a request for `fetch(url)` against `fetch(url, init)`
 * with the options a download with timeouts and checked redirects needs (an `AbortSignal`,
 * headers, `redirect: "manual"`), one at a time and together. Each variant runs in a fresh
 * process, 16 requests at a time in one thread, reading each body; rounds alternate the variants.
 *
 * ```sh
 * deno run -A bench/request_cost.ts LIST [ROUNDS]     # LIST: URLs, one a line (compare.ts --keep)
 * ```
 *
 * Not a test and never run in CI. The bare loop of `bench/bare_fetch.ts` calls `fetch(url)`;
 * downpour, like any downloader that can time out a request, cannot.
 *
 * @module
 */

import process from "node:process";

const VARIANTS = ["plain", "signal", "headers", "manual", "all"] as const;
type Variant = typeof VARIANTS[number];

const HEADERS = { "user-agent": "downpour-bench", accept: "image/*,*/*;q=0.5" };

function request(url: string, variant: Variant): Promise<Response> {
  switch (variant) {
    case "plain":
      return fetch(url);
    case "signal":
      return fetch(url, { signal: new AbortController().signal });
    case "headers":
      return fetch(url, { headers: HEADERS });
    case "manual":
      return fetch(url, { redirect: "manual" });
    case "all":
      return fetch(url, {
        signal: new AbortController().signal,
        headers: HEADERS,
        redirect: "manual",
      });
  }
}

/** One variant over the whole list, in this process: prints µs of CPU a request. */
async function measure(list: string, variant: Variant): Promise<void> {
  const urls = (await Deno.readTextFile(list)).trim().split("\n");
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < urls.length) {
      const response = await request(urls[next++]!, variant);
      await response.bytes();
    }
  }));
  const used = process.cpuUsage(cpu);
  console.log(((used.user + used.system) / urls.length).toFixed(1));
}

if (import.meta.main) {
  const [list, second] = Deno.args;
  if (!list) {
    console.error("usage: deno run -A bench/request_cost.ts LIST [ROUNDS]");
    Deno.exit(2);
  }
  if ((VARIANTS as readonly string[]).includes(second ?? "")) {
    await measure(list, second as Variant);
  } else {
    const rounds = Number(second ?? 5);
    const samples = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const variant of VARIANTS) {
        const { stdout, success } = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", import.meta.filename!, list, variant],
          stderr: "inherit",
        }).output();
        if (!success) throw new Error(`the ${variant} run failed`);
        samples.get(variant)!.push(Number(new TextDecoder().decode(stdout)));
      }
    }
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const plain = median(samples.get("plain")!);
    console.log(`| request | µs of CPU a request (median of ${rounds}) | vs fetch(url) |`);
    console.log("| --- | --: | --: |");
    for (const [variant, xs] of samples) {
      const m = median(xs);
      console.log(`| ${variant} | ${m.toFixed(1)} | ${(m / plain).toFixed(2)}× |`);
    }
  }
}
