/**
 * The floor of downpour's design, measured beside `bare_fetch.ts`: the same loop of `fetch` and
 * one `Deno.writeFile`, but fed the way downpour feeds its workers, and making the request
 * downpour makes. The main thread keeps C jobs in flight per worker and sends them in batches;
 * each worker sends its outcomes back, batched per turn of its event loop. Each request carries
 * what any download with timeouts and checked redirects needs: an `AbortSignal`, the
 * `User-Agent` and `Accept` headers, and `redirect: "manual"`.
 *
 * There are no checks, journal, names or retries: the difference from the bare loop is what the
 * channel and the request's options cost (a third busy isolate, the messages, the wait for the
 * main thread, Deno's conversion of a `RequestInit`), and the difference from downpour is
 * downpour's own work. `--plain` sends `fetch(url)`, as the bare loop does, to tell the two
 * costs apart.
 *
 * ```sh
 * /usr/bin/time -f '%e s %U+%S cpu %M KB' deno run -A bench/channel_fetch.ts LIST OUT [W] [C] [--plain]
 * ```
 *
 * Run it against the same nginx and list as `bench/compare.ts` (its `--keep` keeps them), or as
 * its `channel` row (`--only bare,channel,downpour`).
 *
 * @module
 */

interface Job {
  id: number;
  href: string;
  path: string;
}

interface Done {
  id: number;
  ok: boolean;
  bytes: number;
}

if (import.meta.main && !("WorkerGlobalScope" in globalThis)) {
  const plain = Deno.args.includes("--plain");
  const [list, out, w = "2", c = "16"] = Deno.args.filter((arg) => arg !== "--plain");
  if (!list || !out) {
    console.error(
      "usage: deno run -A bench/channel_fetch.ts LIST OUT [WORKERS] [IN_FLIGHT] [--plain]",
    );
    Deno.exit(2);
  }
  const urls = (await Deno.readTextFile(list)).trim().split("\n");
  await Deno.mkdir(out, { recursive: true });
  const perWorker = Number(c);
  let next = 0;
  let done = 0;
  let failed = 0;
  const finished = Promise.withResolvers<void>();
  const feed = (slot: { worker: Worker; free: number }) => {
    const jobs: Job[] = [];
    while (slot.free > 0 && next < urls.length) {
      const href = urls[next]!;
      jobs.push({ id: next++, href, path: href.slice(href.lastIndexOf("/") + 1) });
      slot.free--;
    }
    if (jobs.length > 0) slot.worker.postMessage(jobs);
  };
  const slots = Array.from({ length: Number(w) }, () => {
    const worker = new Worker(import.meta.url, { type: "module" });
    const slot = { worker, free: perWorker };
    worker.onmessage = (event: MessageEvent<Done[]>) => {
      for (const outcome of event.data) if (!outcome.ok) failed++;
      done += event.data.length;
      slot.free += event.data.length;
      feed(slot);
      if (done === urls.length) finished.resolve();
    };
    worker.postMessage({ out, plain });
    return slot;
  });
  try {
    for (const slot of slots) feed(slot);
    await finished.promise;
  } finally {
    for (const slot of slots) slot.worker.terminate();
  }
  if (failed > 0) {
    console.error(`${failed} of ${urls.length} failed`);
    Deno.exit(1);
  }
} else if ("WorkerGlobalScope" in globalThis) {
  const scope = self as unknown as Worker;
  let out = "";
  let plain = false;
  const headers = { "user-agent": "downpour-bench", accept: "image/*,*/*;q=0.5" };
  let pending: Done[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const outcomes = pending;
    pending = [];
    scope.postMessage(outcomes);
  };
  const report = (outcome: Done) => {
    pending.push(outcome);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  const run = async (job: Job) => {
    try {
      const response = plain ? await fetch(job.href) : await fetch(job.href, {
        signal: new AbortController().signal,
        headers,
        redirect: "manual",
      });
      const body = await response.bytes();
      await Deno.writeFile(`${out}/${job.path}`, body);
      report({ id: job.id, ok: response.ok, bytes: body.byteLength });
    } catch {
      report({ id: job.id, ok: false, bytes: 0 });
    }
  };
  scope.onmessage = (event: MessageEvent<Job[] | { out: string; plain: boolean }>) => {
    const data = event.data;
    if (!Array.isArray(data)) {
      ({ out, plain } = data);
      return;
    }
    for (const job of data) void run(job);
  };
}
