import assert from "node:assert/strict";
import { download } from "../mod.ts";
import { serve } from "../server.ts";
import { shardOf } from "../src/shard.ts";
import { syntheticPng } from "../testing/png.ts";
import { CLI, collect, type LocalServer, localServer, tempDir } from "./helpers.ts";
const PNG = await syntheticPng(0, { minBytes: 200, maxBytes: 300 });

/** A loopback host that records when each request arrives and how many run at once. */
interface Host {
  base: string;
  times: number[];
  inflight: number;
  maxInflight: number;
  server: LocalServer;
}

const everywhere = { inflight: 0, max: 0 };

function host(
  hostname: string,
  respond: (req: Request, host: Host) => Response | Promise<Response> = () => new Response(PNG),
  latency = 30,
): Host {
  const h = { times: [] as number[], inflight: 0, maxInflight: 0 } as Host;
  h.server = localServer(async (req) => {
    h.times.push(performance.now());
    h.inflight++;
    everywhere.inflight++;
    h.maxInflight = Math.max(h.maxInflight, h.inflight);
    everywhere.max = Math.max(everywhere.max, everywhere.inflight);
    try {
      await new Promise((resolve) => setTimeout(resolve, latency));
      return await respond(req, h);
    } finally {
      h.inflight--;
      everywhere.inflight--;
    }
  }, hostname);
  h.base = h.server.origin;
  return h;
}

/** Runs `body` with a temporary output directory; then shuts the hosts down and removes it. */
async function withHosts(hosts: Host[], body: (out: string) => Promise<void>): Promise<void> {
  await using out = await tempDir("downpour-polite-");
  await using servers = new AsyncDisposableStack();
  for (const h of hosts) servers.use(h.server);
  await body(out.path);
}

Deno.test("per-host caps hold across workers while the hosts proceed in parallel", async () => {
  const hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map((name) => host(name));
  everywhere.max = 0;
  await withHosts(hosts, async (out) => {
    const urls = hosts.flatMap((h) => Array.from({ length: 12 }, (_, i) => `${h.base}/${i}.png`));
    const results = await collect(download(urls, { out, workers: 2, concurrency: 8, perHost: 2 }));
    assert.equal(results.filter((r) => r.ok).length, 36);
    for (const h of hosts) assert.ok(h.maxInflight <= 2, `${h.base}: ${h.maxInflight} at once`);
    assert.ok(everywhere.max > 2, `hosts ran side by side: ${everywhere.max} at once in all`);
  });
});

Deno.test("a 429 with Retry-After holds back that host while the others finish", async () => {
  let refused = false;
  const slow = host("127.0.0.2", () => {
    if (!refused) {
      refused = true;
      return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
    }
    return new Response(PNG);
  }, 5);
  const fast = host("127.0.0.3", () => new Response(PNG), 5);
  await withHosts([slow, fast], async (out) => {
    const urls = [
      ...Array.from({ length: 6 }, (_, i) => `${slow.base}/${i}.png`),
      ...Array.from({ length: 20 }, (_, i) => `${fast.base}/${i}.png`),
    ];
    const results = await collect(download(urls, { out, workers: 1, concurrency: 4, perHost: 1 }));
    assert.equal(
      results.filter((r) => r.ok).length,
      26,
      JSON.stringify(results.filter((r) => !r.ok)),
    );
    // After the 429, nothing reached the slow host for about a second...
    const [first, second] = slow.times;
    assert.ok(
      second! - first! >= 900,
      `the slow host was asked again after ${second! - first!} ms`,
    );
    // ...while the fast host got all its requests in the meantime.
    const fastDone = Math.max(...fast.times);
    assert.ok(fastDone < second!, "the other host finished while the slow one was held back");
  });
});

Deno.test("--rate spaces the requests to one host", async () => {
  const h = host("127.0.0.1", () => new Response(PNG), 0);
  await withHosts([h], async (out) => {
    const urls = Array.from({ length: 6 }, (_, i) => `${h.base}/${i}.png`);
    const results = await collect(download(urls, { out, rate: 10, perHost: 6 }));
    assert.ok(results.every((r) => r.ok));
    const spread = Math.max(...h.times) - Math.min(...h.times);
    assert.ok(spread >= 400, `6 requests at 10/s took ${spread} ms`);
  });
});

Deno.test("robots.txt: disallowed URLs are refused with a reason that names it", async () => {
  let robotsFetches = 0;
  const h = host("127.0.0.1", (req) => {
    if (new URL(req.url).pathname === "/robots.txt") {
      robotsFetches++;
      return new Response("User-agent: *\nDisallow: /private/\n");
    }
    return new Response(PNG);
  }, 0);
  await withHosts([h], async (out) => {
    const urls = [`${h.base}/private/a.png`, `${h.base}/public/b.png`, `${h.base}/private/c.png`];
    const results = await collect(download(urls, { out, robots: true }));
    const refused = results.filter((r) => r.reason === "robots");
    assert.equal(refused.length, 2);
    assert.match(refused[0]!.error!, /robots\.txt/);
    assert.ok(results.find((r) => r.url.endsWith("b.png"))!.ok);
    assert.equal(robotsFetches, 1, "robots.txt is fetched once per host");
  });
});

Deno.test("robots.txt: Crawl-delay spaces the requests to that host, and only with robots", async () => {
  const robots = "User-agent: *\nCrawl-delay: 0.3\nDisallow:\n";
  for (const honour of [true, false]) {
    const images: number[] = [];
    const h = host("127.0.0.1", (req) => {
      if (new URL(req.url).pathname === "/robots.txt") return new Response(robots);
      images.push(performance.now());
      return new Response(PNG);
    }, 0);
    await withHosts([h], async (out) => {
      const urls = Array.from({ length: 4 }, (_, i) => `${h.base}/${i}.png`);
      const results = await collect(download(urls, { out, robots: honour, perHost: 4 }));
      assert.ok(results.every((r) => r.ok));
      const spread = Math.max(...images) - Math.min(...images);
      if (honour) assert.ok(spread >= 700, `4 requests 0.3 s apart took ${spread} ms`);
      else assert.ok(spread < 700, `without --robots, 4 requests took ${spread} ms`);
    });
  }
});

Deno.test("denyPrivate refuses loopback addresses", async () => {
  const h = host("127.0.0.1");
  await withHosts([h], async (out) => {
    const [result] = await collect(download([`${h.base}/x.png`], { out, denyPrivate: true }));
    assert.equal(result!.ok, false);
    assert.equal(result!.reason, "private");
    assert.match(result!.error!, /127\.0\.0\.1/);
    assert.equal(h.times.length, 0, "no request was sent");
  });
});

Deno.test("honorNoAi skips images whose X-Robots-Tag opts out", async () => {
  const h = host("127.0.0.1", (req) =>
    new Response(PNG, {
      headers: new URL(req.url).pathname === "/no.png" ? { "x-robots-tag": "noimageai" } : {},
    }), 0);
  await withHosts([h], async (out) => {
    const results = await collect(
      download([`${h.base}/no.png`, `${h.base}/yes.png`], { out, honorNoAi: true }),
    );
    assert.equal(results.find((r) => r.url.endsWith("no.png"))!.reason, "opt-out");
    assert.ok(results.find((r) => r.url.endsWith("yes.png"))!.ok);
  });
});

Deno.test("--shard K/N: the shards partition the list; --report sums them up", async () => {
  await using server = await serve({ images: 60, minBytes: 200, maxBytes: 400 });
  await using dir = await tempDir("downpour-shard-");
  const urls = Array.from({ length: 60 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  await Deno.writeTextFile(`${dir.path}/urls.txt`, urls.join("\n"));
  const seen: string[] = [];
  for (const k of [0, 1, 2]) {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        CLI,
        "-i",
        `${dir.path}/urls.txt`,
        "-o",
        `${dir.path}/out${k}`,
        "--shard",
        `${k}/3`,
        "--json",
        "--report",
        `${dir.path}/report${k}.json`,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    const lines = new TextDecoder().decode(stdout).trim().split("\n").filter(Boolean);
    const mine = lines.map((line) => JSON.parse(line).url as string);
    // Exactly the URLs the hash puts in shard k (the port is random: so is the split).
    const expected = urls.filter((url) => shardOf(url, 3) === k);
    assert.deepEqual([...mine].sort(), expected.sort(), `shard ${k}`);
    seen.push(...mine);
    const report = JSON.parse(await Deno.readTextFile(`${dir.path}/report${k}.json`));
    assert.equal(report.saved, mine.length);
    assert.equal(report.exitCode, 0);
  }
  assert.deepEqual(seen.sort(), [...urls].sort(), "every URL in exactly one shard");
});

Deno.test("layout shard spreads files over subdirectories of 1,000", async () => {
  await using server = await serve({ images: 1002, minBytes: 200, maxBytes: 300 });
  await using dir = await tempDir("downpour-layout-");
  const urls = Array.from({ length: 1002 }, (_, i) => new URL(`img/${i}.png`, server.url).href);
  const results = await collect(download(urls, { out: dir.path, layout: "shard", perHost: 16 }));
  const path = (i: number) => results.find((r) => r.url === urls[i])!.path;
  assert.equal(path(0), "0000/0.png");
  assert.equal(path(999), "0000/999.png");
  assert.equal(path(1001), "0001/1001.png");
  assert.deepEqual(
    await Deno.readFile(`${dir.path}/0001/1001.png`),
    await syntheticPng(1001, { minBytes: 200, maxBytes: 300 }),
  );
});
