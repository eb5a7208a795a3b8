import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createHandler, serve } from "../server.ts";
import { crc32, syntheticPng, writePngs } from "../testing/png.ts";
import { readBanner } from "../testing/streams.ts";
import { tempDir } from "./helpers.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async function bytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

function get(url: string, headers: HeadersInit = {}, method = "GET"): Request {
  return new Request(new URL(url, "http://test.local"), { headers, method });
}

/** Parses a PNG: checks the signature, every chunk's CRC, the IHDR and the inflated IDAT size. */
async function parsePng(png: Uint8Array): Promise<{ width: number; height: number }> {
  assert.deepEqual([...png.subarray(0, 8)], SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const types: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let offset = 8;
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    assert.equal(data.length, length, `chunk ${type} is cut short`);
    const crc = view.getUint32(offset + 8 + length);
    assert.equal(crc32(png.subarray(offset + 4, offset + 8 + length)), crc, `CRC of ${type}`);
    types.push(type);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      assert.deepEqual([...data.subarray(8)], [8, 2, 0, 0, 0]);
    }
    if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  assert.equal(offset, png.length);
  assert.equal(types[0], "IHDR");
  assert.equal(types.at(-1), "IEND");
  const inflated = new Blob(idat as Uint8Array<ArrayBuffer>[]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  const raw = await bytes(new Response(inflated));
  assert.equal(raw.length, height * (1 + width * 3));
  for (let row = 0; row < height; row++) assert.equal(raw[row * (1 + width * 3)], 0);
  return { width, height };
}

Deno.test("crc32 matches the standard check values", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.equal(crc32(text("123456789")), 0xcbf43926);
  assert.equal(crc32(text("The quick brown fox jumps over the lazy dog")), 0x414fa339);
  assert.equal(crc32(text("IEND")), 0xae426082);
});

Deno.test("syntheticPng makes valid, deterministic PNGs of roughly the asked size", async () => {
  const sizes: number[] = [];
  for (let i = 0; i < 20; i++) {
    const png = await syntheticPng(i);
    await parsePng(png);
    assert.ok(png.length >= 4_000 * 0.9 && png.length <= 40_000 * 1.1, `${i}: ${png.length}`);
    assert.deepEqual(await syntheticPng(i), png, "the same index gives the same bytes");
    sizes.push(png.length);
  }
  assert.ok(new Set(sizes).size > 15, "sizes vary with the index");

  const options = { minBytes: 100_000, maxBytes: 100_000, seed: 9 };
  const exact = await syntheticPng(3, options);
  await parsePng(exact);
  assert.ok(Math.abs(exact.length - 100_000) < 2_000, `${exact.length}`);
  assert.notDeepEqual(await syntheticPng(3, { ...options, seed: 10 }), exact);

  const tiny = await syntheticPng(0, { minBytes: 100, maxBytes: 120 });
  await parsePng(tiny);
  assert.ok(tiny.length >= 90 && tiny.length <= 132, `${tiny.length}`);

  await assert.rejects(syntheticPng(-1), RangeError);
  await assert.rejects(syntheticPng(0, { minBytes: 500, maxBytes: 400 }), /'maxBytes' must be/);
  await assert.rejects(syntheticPng(0, { minBytes: 10 }), RangeError);
});

Deno.test("writePngs writes 0.png to (count - 1).png", async () => {
  await using dir = await tempDir();
  await writePngs(`${dir.path}/sub`, 5, { maxBytes: 6_000, seed: 4, concurrency: 2 });
  const names = [];
  for await (const entry of Deno.readDir(`${dir.path}/sub`)) names.push(entry.name);
  assert.deepEqual(names.sort(), ["0.png", "1.png", "2.png", "3.png", "4.png"]);
  assert.deepEqual(
    await Deno.readFile(`${dir.path}/sub/4.png`),
    await syntheticPng(4, { maxBytes: 6_000, seed: 4 }),
  );
});

Deno.test("options are checked up front", async () => {
  assert.throws(() => createHandler({ images: -1 }), {
    name: "RangeError",
    message: "Cannot start server: 'images' must be a non-negative integer, got -1",
  });
  assert.throws(() => createHandler({ images: "3" as unknown as number }), TypeError);
  assert.throws(() => createHandler({ p500: 1.5 }), /'p500' must be a fraction from 0 to 1/);
  assert.throws(() => createHandler({ p500: 0.6, p503: 0.6 }), /'p500' \+ 'p503' \+ 'p429'/);
  assert.throws(() => createHandler({ minBytes: 5000, maxBytes: 4000 }), /'maxBytes'/);
  assert.throws(() => createHandler({ dir: "" }), TypeError);
  await assert.rejects(serve({ port: 70000 }), /'port' must be an integer from 0 to 65535/);
  await assert.rejects(serve({ dir: "/nonexistent/downpour" }), /'dir' is not a directory/);
});

Deno.test("/img/{i}.png serves the synthetic PNGs with validators", async () => {
  const handle = createHandler({ images: 3, minBytes: 2_000, maxBytes: 3_000, seed: 5 });
  const expected = await syntheticPng(2, { minBytes: 2_000, maxBytes: 3_000, seed: 5 });
  const response = await handle(get("/img/2.png"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "image/png");
  assert.equal(response.headers.get("content-length"), String(expected.length));
  assert.equal(response.headers.get("accept-ranges"), "bytes");
  assert.equal(response.headers.get("last-modified"), "Mon, 01 Jan 2024 00:00:00 GMT");
  assert.match(response.headers.get("etag")!, /^"[0-9a-f]+-[0-9a-f]{8}"$/);
  assert.deepEqual(await bytes(response), expected);

  const again = await handle(get("/img/2.png"));
  assert.equal(again.headers.get("etag"), response.headers.get("etag"));
  assert.deepEqual(await bytes(again), expected, "cached bytes are served intact twice");
  assert.equal(
    (await createHandler({ images: 3, minBytes: 2_000, maxBytes: 3_000, seed: 5 })(
      get("/img/2.png"),
    ))
      .headers.get("etag"),
    response.headers.get("etag"),
    "ETags are deterministic",
  );

  for (const path of ["/img/3.png", "/img/01.png", "/img/-1.png", "/img/1.jpg", "/img/"]) {
    const missing = await handle(get(path));
    assert.equal(missing.status, 404, path);
    await missing.body?.cancel();
  }
  const post = await handle(get("/img/1.png", {}, "POST"));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("HEAD, ranges, If-Range, If-None-Match and If-Modified-Since", async () => {
  const handle = createHandler({ images: 1 });
  const png = await syntheticPng(0);
  const size = png.length;
  const full = await handle(get("/img/0.png"));
  const etag = full.headers.get("etag")!;
  await full.body?.cancel();

  const head = await handle(get("/img/0.png", {}, "HEAD"));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), String(size));

  const cases: [string, number, number][] = [
    ["bytes=0-9", 0, 10],
    ["bytes=10-", 10, size],
    ["bytes=-16", size - 16, size],
    [`bytes=5-${size + 100}`, 5, size],
    [`bytes=-${size + 100}`, 0, size],
  ];
  for (const [range, start, end] of cases) {
    const response = await handle(get("/img/0.png", { range }));
    assert.equal(response.status, 206, range);
    assert.equal(response.headers.get("content-range"), `bytes ${start}-${end - 1}/${size}`);
    assert.equal(response.headers.get("content-length"), String(end - start));
    assert.deepEqual(await bytes(response), png.subarray(start, end), range);
  }

  for (const range of [`bytes=${size}-`, "bytes=-0", `bytes=${size + 5}-${size + 9}`]) {
    const response = await handle(get("/img/0.png", { range }));
    assert.equal(response.status, 416, range);
    assert.equal(response.headers.get("content-range"), `bytes */${size}`);
    await response.body?.cancel();
  }
  // Several ranges, other units and nonsense are ignored: the whole body.
  for (const range of ["bytes=0-1,5-6", "items=0-1", "bytes=9-3", "bytes=x-"]) {
    const response = await handle(get("/img/0.png", { range }));
    assert.equal(response.status, 200, range);
    assert.equal((await bytes(response)).length, size);
  }

  const ranged = await handle(get("/img/0.png", { range: "bytes=0-3", "if-range": etag }));
  assert.equal(ranged.status, 206);
  await ranged.body?.cancel();
  const stale = await handle(get("/img/0.png", { range: "bytes=0-3", "if-range": '"old"' }));
  assert.equal(stale.status, 200, "a stale If-Range gets the whole body");
  assert.equal((await bytes(stale)).length, size);

  for (const inm of [etag, `"x", ${etag}`, `W/${etag}`, "*"]) {
    const response = await handle(get("/img/0.png", { "if-none-match": inm }));
    assert.equal(response.status, 304, inm);
    assert.equal(response.body, null);
    assert.equal(response.headers.get("etag"), etag);
  }
  const changed = await handle(get("/img/0.png", { "if-none-match": '"other"' }));
  assert.equal(changed.status, 200);
  await changed.body?.cancel();
  const since = await handle(get("/img/0.png", { "if-modified-since": new Date().toUTCString() }));
  assert.equal(since.status, 304);
  const before = await handle(
    get("/img/0.png", { "if-modified-since": "Sun, 31 Dec 2023 00:00:00 GMT" }),
  );
  assert.equal(before.status, 200);
  await before.body?.cancel();
});

Deno.test("static files: content types, ranges, 404 and no way out of the directory", async () => {
  await using root = await tempDir();
  await using outside = await tempDir();
  const dir = `${root.path}/www`;
  await Deno.mkdir(`${dir}/sub dir`, { recursive: true });
  const files: Record<string, string> = {
    "a.png": "image/png",
    "b.JPG": "image/jpeg",
    "c.gif": "image/gif",
    "d.webp": "image/webp",
    "e.avif": "image/avif",
    "f.svg": "image/svg+xml",
    "g.ico": "image/x-icon",
    "h.bmp": "image/bmp",
    "i.tiff": "image/tiff",
    "j.html": "text/html; charset=utf-8",
    "k.txt": "text/plain; charset=utf-8",
    "l.json": "application/json",
    "m.js": "text/javascript; charset=utf-8",
    "mod.ts": "application/typescript; charset=utf-8",
    "noext": "application/octet-stream",
    "sub dir/é.png": "image/png",
  };
  for (const name of Object.keys(files)) await Deno.writeTextFile(`${dir}/${name}`, `<${name}>`);
  await Deno.writeTextFile(`${outside.path}/secret.txt`, "TOP-SECRET-CONTENT");
  await Deno.symlink(`${outside.path}/secret.txt`, `${dir}/link.txt`);
  const handle = createHandler({ dir, images: 0 });

  for (const [name, type] of Object.entries(files)) {
    const path = "/" + name.split("/").map(encodeURIComponent).join("/");
    const response = await handle(get(path));
    assert.equal(response.status, 200, name);
    assert.equal(response.headers.get("content-type"), type, name);
    assert.equal(await response.text(), `<${name}>`);
  }

  const ranged = await handle(get("/k.txt", { range: "bytes=1-3" }));
  assert.equal(ranged.status, 206);
  assert.equal(await ranged.text(), "k.t");
  const etag = (await handle(get("/k.txt", {}, "HEAD"))).headers.get("etag")!;
  assert.equal((await handle(get("/k.txt", { "if-none-match": etag }))).status, 304);

  const refused: [string, number][] = [
    ["/missing.png", 404],
    ["/sub%20dir", 404],
    ["/sub%20dir/", 404],
    ["/..%2f..%2fetc/passwd", 403],
    ["/sub%20dir/..%2F..%2Fsecret.txt", 403],
    ["/%2e%2e/x", 404], // URL parsing resolves %2e%2e itself: /x, inside the root.
    ["/a%5c..%5csecret.txt", 403],
    ["/link.txt", 403],
    ["/%E0%A4%A.png", 400],
  ];
  for (const [path, status] of refused) {
    const response = await handle(get(path));
    assert.equal(response.status, status, path);
    assert.doesNotMatch(await response.text(), /TOP-SECRET/);
  }
});

Deno.test("/list.txt lists the image URLs from the request's Host, with its exact length", async () => {
  const handle = createHandler({ images: 1_000_000 });
  const response = await handle(new Request("http://127.0.0.2:8123/list.txt?start=999997"));
  const text = await response.text();
  assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(
    response.headers.get("content-length"),
    String(new TextEncoder().encode(text).length),
  );
  assert.deepEqual(text.split("\n"), [
    "http://127.0.0.2:8123/img/999997.png",
    "http://127.0.0.2:8123/img/999998.png",
    "http://127.0.0.2:8123/img/999999.png",
    "",
  ]);

  const small = createHandler({ images: 12 });
  const all = (await (await small(get("/list.txt"))).text()).trim().split("\n");
  assert.equal(all.length, 12);
  assert.equal(all[11], "http://test.local/img/11.png");
  const some = await (await small(get("/list.txt?start=8&count=2"))).text();
  assert.equal(some, "http://test.local/img/8.png\nhttp://test.local/img/9.png\n");
  const capped = await small(get("/list.txt?start=10&count=50"));
  assert.equal((await capped.text()).trim().split("\n").length, 2);
  const past = await small(get("/list.txt?start=50"));
  assert.equal(past.headers.get("content-length"), "0");
  assert.equal(await past.text(), "");
  const bad = await small(get("/list.txt?count=-1"));
  assert.equal(bad.status, 400);
  await bad.body?.cancel();

  // A million lines cost nothing until read: the length is computed, not measured.
  const head = await handle(get("/list.txt", {}, "HEAD"));
  const length = 1_000_000 * "http://test.local/img/.png\n".length + 5_888_890;
  assert.equal(head.headers.get("content-length"), String(length));
});

Deno.test("per-URL knobs: fail, status, retry-after, redirects, disposition, type, html", async () => {
  const handle = createHandler({ images: 2 });
  const flaky = "/img/1.png?fail=2&status=429&retry-after=7";
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    const response = await handle(get(flaky));
    statuses.push([response.status, response.headers.get("retry-after")]);
    await response.body?.cancel();
  }
  assert.deepEqual(statuses, [[429, "7"], [429, "7"], [200, null], [200, null]]);
  const other = await handle(get("/img/1.png?fail=2&status=429&retry-after=7&x=1"));
  assert.equal(other.status, 429, "each exact path and query is counted apart");
  await other.body?.cancel();
  const defaulted = await handle(get("/img/0.png?fail=1"));
  assert.equal(defaulted.status, 503);
  assert.equal(await defaulted.text(), "HTTP 503 Service Unavailable\n");

  for (let i = 0; i < 3; i++) {
    const response = await handle(get("/img/0.png?status=502"));
    assert.equal(response.status, 502);
    await response.body?.cancel();
  }
  const noContent = await handle(get("/img/0.png?status=204"));
  assert.equal(noContent.status, 204);
  assert.equal(noContent.body, null);

  const dated = await handle(get("/x?status=503&retry-after=30&retry-after-date=1"));
  const when = Date.parse(dated.headers.get("retry-after")!);
  assert.ok(Math.abs(when - (Date.now() + 30_000)) < 2_000, dated.headers.get("retry-after")!);
  await dated.body?.cancel();

  let url = "http://test.local/img/0.png?redirect=3&v=1";
  const hops = [];
  for (
    let response = await handle(get(url));
    response.status === 302;
    response = await handle(get(url))
  ) {
    await response.body?.cancel();
    url = response.headers.get("location")!;
    hops.push(url);
  }
  assert.deepEqual(hops, [
    "http://test.local/img/0.png?redirect=2&v=1",
    "http://test.local/img/0.png?redirect=1&v=1",
    "http://test.local/img/0.png?v=1",
  ]);
  const to = await handle(get("/img/0.png?redirect-to=file:///etc/passwd"));
  assert.equal(to.status, 302);
  assert.equal(to.headers.get("location"), "file:///etc/passwd");
  await to.body?.cancel();
  const loop = await handle(get("/img/0.png?redirect-loop=1"));
  assert.equal(loop.headers.get("location"), "http://test.local/img/0.png?redirect-loop=1");
  await loop.body?.cancel();

  const named = await handle(get("/img/0.png?disposition=cat%20photo.png&type=image/webp"));
  assert.equal(named.headers.get("content-disposition"), 'attachment; filename="cat photo.png"');
  assert.equal(named.headers.get("content-type"), "image/webp");
  assert.deepEqual([...(await bytes(named)).subarray(0, 8)], SIGNATURE);
  const unicode = await handle(get("/img/0.png?disposition=%C3%A9t%C3%A9.png"));
  assert.equal(
    unicode.headers.get("content-disposition"),
    `attachment; filename="__t__.png"; filename*=UTF-8''%C3%A9t%C3%A9.png`.replace("__t__", "_t_"),
  );
  await unicode.body?.cancel();

  const html = await handle(get("/img/0.png?html=1"));
  assert.equal(html.status, 200);
  assert.equal(html.headers.get("content-type"), "image/png");
  assert.match(await html.text(), /^<!doctype html>/);

  for (const knob of ["stall=abc", "status=99", "status=600", "gzip-bomb=0", "html=yes", "type="]) {
    const response = await handle(get(`/img/0.png?${knob}`));
    assert.equal(response.status, 400, knob);
    assert.match(await response.text(), /^bad knob: /);
  }
  const ignored = await handle(get("/img/0.png?size=large&name=1.png"));
  assert.equal(ignored.status, 200, "unknown parameters are ignored");
  await ignored.body?.cancel();
});

Deno.test("per-URL knobs: length, wrong-length, truncate, gzip-bomb, endless, latency", async () => {
  const handle = createHandler({ images: 1 });
  const small = await handle(get("/big.bin?length=100000"));
  assert.equal(small.headers.get("content-type"), "application/octet-stream");
  const body = await bytes(small);
  assert.equal(body.length, 100_000);
  assert.deepEqual([...body.subarray(0, 8)], SIGNATURE);
  assert.deepEqual(await bytes(await handle(get("/big.bin?length=100000"))), body);
  const asPng = await handle(get("/x.png?length=10", {}, "HEAD"));
  assert.equal(asPng.headers.get("content-type"), "image/png");

  // Two billion bytes, never held in memory: a range from the end, and a streamed start.
  const huge = "/huge.bin?length=2000000000";
  const tail = await handle(get(huge, { range: "bytes=-5" }));
  assert.equal(tail.headers.get("content-range"), "bytes 1999999995-1999999999/2000000000");
  assert.equal((await bytes(tail)).length, 5);
  const streamed = await handle(get(huge));
  assert.equal(streamed.headers.get("content-length"), "2000000000");
  const reader = streamed.body!.getReader();
  const first = await reader.read();
  assert.deepEqual([...first.value!.subarray(0, 8)], SIGNATURE);
  await reader.cancel();
  const middle = await handle(get(huge, { range: "bytes=1000000-3999999" }));
  const middleBytes = await bytes(middle);
  assert.equal(middleBytes.length, 3_000_000);
  const again = await handle(get(huge, { range: "bytes=2000000-2000099" }));
  assert.deepEqual(await bytes(again), middleBytes.subarray(1_000_000, 1_000_100));

  const wrong = await handle(get("/big.bin?length=1000&wrong-length=24"));
  assert.equal(wrong.headers.get("content-length"), "1024");
  assert.equal((await bytes(wrong)).length, 1000);

  const cut = await handle(get("/img/0.png?truncate=100"));
  assert.equal(cut.headers.get("content-length"), String((await syntheticPng(0)).length));
  assert.equal((await bytes(cut)).length, 100);

  const bomb = await handle(get("/bomb.png?gzip-bomb=8"));
  assert.equal(bomb.headers.get("content-encoding"), "gzip");
  const compressed = await bytes(bomb);
  assert.ok(compressed.length < 64 * 1024, `${compressed.length} bytes`);
  const inflated = await bytes(
    new Response(
      new Blob([compressed as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ),
  );
  assert.equal(inflated.length, 8 * 1024 * 1024);
  assert.deepEqual([...inflated.subarray(0, 8)], SIGNATURE);
  assert.equal(inflated.at(-1), 0);

  const endless = await handle(get("/img/0.png?endless=1"));
  assert.equal(endless.headers.get("content-length"), null);
  const endlessReader = endless.body!.getReader();
  let read = 0;
  while (read < 1_000_000) read += (await endlessReader.read()).value!.length;
  await endlessReader.cancel();

  const slow = createHandler({ images: 1, latencyMs: 60 });
  const started = performance.now();
  const late = await slow(get("/img/0.png?latency=40"));
  assert.ok(performance.now() - started >= 95, "server latency and URL latency add up");
  await late.body?.cancel();
});

Deno.test("global faults are deterministic, about as frequent as asked, and give up after 3", async () => {
  const options = { images: 200, p500: 0.2, p503: 0.2, p429: 0.1, retryAfter: 4, seed: 3 };
  async function firstStatuses(handle: (req: Request) => Promise<Response>) {
    const statuses = [];
    for (let i = 0; i < 200; i++) {
      const response = await handle(get(`/img/${i}.png`, {}, "HEAD"));
      statuses.push(response.status);
      if (response.status === 429) assert.equal(response.headers.get("retry-after"), "4");
    }
    return statuses;
  }
  const handle = createHandler(options);
  const statuses = await firstStatuses(handle);
  assert.deepEqual(await firstStatuses(createHandler(options)), statuses, "same seed, same faults");
  assert.notDeepEqual(await firstStatuses(createHandler({ ...options, seed: 4 })), statuses);
  const count = (status: number) => statuses.filter((s) => s === status).length;
  assert.ok(count(500) > 20 && count(500) < 60, `500: ${count(500)}`);
  assert.ok(count(503) > 20 && count(503) < 60, `503: ${count(503)}`);
  assert.ok(count(429) > 5 && count(429) < 35, `429: ${count(429)}`);
  assert.ok(count(200) > 70 && count(200) < 130, `200: ${count(200)}`);
  // Each URL has had one request; by its fourth, every one succeeds.
  for (let i = 0; i < 200; i++) {
    for (let attempt = 1; attempt < 4; attempt++) {
      const response = await handle(get(`/img/${i}.png`, {}, "HEAD"));
      if (attempt === 3) assert.equal(response.status, 200, `image ${i}`);
      if (response.status === 200) break;
    }
  }
  // The list is never faulted.
  const list = await createHandler({ images: 2, p500: 1 })(get("/list.txt"));
  assert.equal(list.status, 200);
  await list.body?.cancel();

  const redirecting = createHandler({ images: 1, pRedirect: 1 });
  const moved = await redirecting(get("/img/0.png?a=b"));
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.get("location"), "http://test.local/img/0.png?a=b&hop=1");
  await moved.body?.cancel();
  const landed = await redirecting(get("/img/0.png?a=b&hop=1"));
  assert.equal(landed.status, 200);
  await landed.body?.cancel();

  const size = (await syntheticPng(0)).length;
  const truncating = createHandler({ images: 1, pTruncate: 1 });
  const short = await truncating(get("/img/0.png"));
  assert.equal(short.headers.get("content-length"), String(size));
  assert.equal((await bytes(short)).length, Math.floor(size / 2));
});

Deno.test("serve: a real socket, HEAD, stats and the signal option", async () => {
  const controller = new AbortController();
  const server = await serve({ images: 5, latencyMs: 250, signal: controller.signal });
  try {
    assert.equal(server.hostname, "127.0.0.1");
    assert.equal(server.url.href, `http://127.0.0.1:${server.port}/`);
    const head = await fetch(new URL("img/4.png", server.url), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String((await syntheticPng(4)).length));
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    const responses = await Promise.all(
      [0, 1, 2, 3].map((i) => fetch(new URL(`img/${i}.png`, server.url))),
    );
    for (const response of responses) assert.equal((await bytes(response)).length > 0, true);
    assert.equal(server.stats.requests, 5);
    assert.equal(server.stats.inflight, 0);
    assert.equal(server.stats.maxInflight, 4);
  } finally {
    controller.abort();
    await server.close();
  }
  await assert.rejects(fetch(server.url), TypeError, "the signal closed the server");
});

Deno.test("serve: close() ends stalled and endless bodies; a truncated body is an error", async () => {
  const server = await serve({ images: 1 });
  let closed = false;
  try {
    const truncated = await fetch(new URL("img/0.png?truncate=1000", server.url));
    assert.equal(truncated.status, 200);
    await assert.rejects(truncated.arrayBuffer(), TypeError);

    const stalled = await fetch(new URL("img/0.png?stall=1000", server.url));
    const stalledReader = stalled.body!.getReader();
    let got = 0;
    while (got < 1000) got += (await stalledReader.read()).value!.length;
    assert.equal(got, 1000);
    const endless = await fetch(new URL("img/0.png?endless=1", server.url));
    const endlessReader = endless.body!.getReader();
    await endlessReader.read();
    const waiting = stalledReader.read();
    const started = performance.now();
    await server.close();
    closed = true;
    assert.ok(performance.now() - started < 2000, "close() does not wait for the stall");
    await assert.rejects(waiting, TypeError, "the stalled body ends short, as an error");
    await assert.rejects(
      (async () => {
        for (;;) if ((await endlessReader.read()).done) return;
      })(),
      TypeError,
      "the endless body ends as an error, never as complete",
    );
  } finally {
    if (!closed) await server.close();
  }
});

Deno.test("serve: redirect knobs through fetch", async () => {
  await using server = await serve({ images: 1 });
  const followed = await fetch(new URL("img/0.png?redirect=3", server.url));
  assert.equal(followed.status, 200);
  assert.equal(followed.redirected, true);
  assert.equal(followed.url, new URL("img/0.png", server.url).href);
  await followed.body?.cancel();

  await assert.rejects(fetch(new URL("img/0.png?redirect-loop=1", server.url)), TypeError);
  await assert.rejects(
    fetch(new URL("img/0.png?redirect-to=file:///etc/passwd", server.url)),
    TypeError,
  );
  const manual = await fetch(new URL("img/0.png?redirect-to=file:///etc/passwd", server.url), {
    redirect: "manual",
  });
  assert.equal(manual.status, 302);
  assert.equal(manual.headers.get("location"), "file:///etc/passwd");
  await manual.body?.cancel();
});

Deno.test("serve: any loopback address, e.g. 127.0.0.2, and its list", async () => {
  await using server = await serve({ images: 3, hostname: "127.0.0.2" });
  assert.equal(server.url.host, `127.0.0.2:${server.port}`);
  const list = (await (await fetch(new URL("list.txt", server.url))).text()).trim().split("\n");
  assert.deepEqual(list, [0, 1, 2].map((i) => `http://127.0.0.2:${server.port}/img/${i}.png`));
  const image = await fetch(list[2]!);
  assert.deepEqual(await bytes(image), await syntheticPng(2));
});

Deno.test("serve: a TypeScript module imported from the server", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/dep.ts`, "export const answer: number = 42;\n");
  await Deno.writeTextFile(`${dir.path}/mod.ts`, 'export { answer } from "./dep.ts";\n');
  await using server = await serve({ dir: dir.path, images: 0 });
  // In a child process without a lockfile: an import here would record the server's random
  // port in the project's deno.lock.
  const url = new URL("mod.ts", server.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      "--no-lock",
      `const { answer } = await import(${JSON.stringify(url.href)}); console.log(answer);`,
    ],
    env: { DENO_DIR: `${dir.path}/deno_dir` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout).trim(), "42");
});

Deno.test("the command line: help, bad flags, and serving until SIGTERM", async () => {
  const script = fileURLToPath(new URL("../server.ts", import.meta.url));
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...args],
      stdout: "piped",
      stderr: "piped",
    });

  const help = await run(["--help"]).output();
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const flag of [
      "--dir",
      "--latency",
      "--p429",
      "--stall",
      "--redirect",
      "?gzip-bomb=MB",
      "/list.txt",
    ]
  ) {
    assert.ok(text.includes(flag), flag);
  }
  const bad = await run(["--images", "many"]).output();
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--images must be a number/);
  const unknown = await run(["--bogus"]).output();
  assert.equal(unknown.code, 2);

  const child = run(["--port", "0", "--images", "2"]).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const banner = await readBanner(reader);
  try {
    assert.match(banner, /^Listening on http:\/\/127\.0\.0\.1:\d+\/\n$/);
    const base = banner.slice("Listening on ".length).trim();
    const list = await (await fetch(new URL("list.txt", base))).text();
    assert.equal(list, `${base}img/0.png\n${base}img/1.png\n`);
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
    await child.stderr.cancel();
    const status = await child.status;
    assert.equal(status.code, 0, "SIGTERM closes the server and exits cleanly");
  }
});
