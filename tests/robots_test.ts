import assert from "node:assert/strict";
import { parseRobots, RobotsRules } from "../src/robots/rules.ts";
import { RobotsCache } from "../src/robots/cache.ts";
import { localServer } from "./helpers.ts";

const UA = "downpour/0.1.0";

/** Whether `path` (with query) on some origin is allowed by `text` for our user agent. */
function allowed(text: string, path: string, userAgent = UA): boolean {
  return parseRobots(text, userAgent).allows(new URL(path, "https://example.com"));
}

Deno.test("parseRobots: our group is picked by product token, without case", () => {
  const text = [
    "User-agent: *",
    "Disallow: /",
    "",
    "User-agent: otherbot",
    "Allow: /",
    "",
    "User-agent: DownPour/9.9",
    "Disallow: /private",
  ].join("\n");
  assert.equal(allowed(text, "/cats/tabby.png"), true);
  assert.equal(allowed(text, "/private/tabby.png"), false);
  assert.equal(allowed(text, "/cats/tabby.png", "otherbot"), true);
  assert.equal(allowed(text, "/cats/tabby.png", "Mozilla/5.0 (compatible)"), false, "falls to *");
  assert.equal(allowed(text, "/cats/tabby.png", "DOWNPOUR"), true);
});

Deno.test("parseRobots: the token must match whole, not as a prefix", () => {
  const text = "User-agent: down\nDisallow: /\n\nUser-agent: downpourx\nDisallow: /\n";
  assert.equal(allowed(text, "/a.png"), true);
});

Deno.test("parseRobots: without our group or *, everything is allowed", () => {
  assert.equal(allowed("User-agent: otherbot\nDisallow: /\n", "/a.png"), true);
  assert.equal(allowed("", "/a.png"), true);
  assert.equal(allowed("<html><body>Not found</body></html>", "/a.png"), true);
});

Deno.test("parseRobots: several User-agent lines share a group; groups for us merge", () => {
  const text = [
    "User-agent: a",
    "User-agent: downpour",
    "User-agent: b",
    "Disallow: /one",
    "",
    "User-agent: *",
    "Disallow: /star",
    "",
    "User-agent: downpour",
    "Disallow: /two",
  ].join("\n");
  assert.equal(allowed(text, "/one/x"), false);
  assert.equal(allowed(text, "/two/x"), false);
  assert.equal(allowed(text, "/star/x"), true, "the * group does not apply when ours exists");
  assert.equal(allowed(text, "/one/x", "b"), false);
  assert.equal(allowed(text, "/two/x", "b"), true);
});

Deno.test("parseRobots: a User-agent line after rules starts a new group", () => {
  const text = "User-agent: downpour\nDisallow: /a\nUser-agent: other\nDisallow: /b\n";
  assert.equal(allowed(text, "/a"), false);
  assert.equal(allowed(text, "/b"), true);
});

Deno.test("parseRobots: comments, CRLF, CR, a BOM, stray lines and Sitemap", () => {
  const text = "\uFEFFDisallow: /before-any-group\r\n" +
    "# a comment\r\n" +
    "User-Agent: downpour # trailing comment\r\n" +
    "Sitemap: https://example.com/sitemap.xml\r\n" +
    "this line has no colon\r\n" +
    "Unknown-Key: whatever\r" +
    "DISALLOW : /private # why\r\n" +
    "Disallow: /tmp#no space before the comment\n";
  assert.equal(allowed(text, "/before-any-group"), true);
  assert.equal(allowed(text, "/private/x"), false);
  assert.equal(allowed(text, "/tmp/x"), false);
  assert.equal(allowed(text, "/public/x"), true);
});

Deno.test("parseRobots: common misspellings of the keys are accepted", () => {
  assert.equal(allowed("useragent: downpour\ndisalow: /x\n", "/x"), false);
  assert.equal(allowed("user agent: *\ndissallow: /x\n", "/x"), false);
  assert.equal(allowed("user-agent: *\ndisallaw: /x\n", "/x"), false);
});

Deno.test("parseRobots: %2A and %24 in a pattern match a literal * and $ (RFC 9309 2.2.3)", () => {
  const text = "User-agent: *\nDisallow: /a-%2A.html\nDisallow: /b-%24\nDisallow: /c$d\n";
  assert.equal(allowed(text, "/a-*.html"), false);
  assert.equal(allowed(text, "/a-%2A.html"), false);
  assert.equal(allowed(text, "/a-x.html"), true); // %2A is no wildcard
  assert.equal(allowed(text, "/b-$"), false);
  assert.equal(allowed(text, "/b-$x"), false); // %24 is no end anchor
  assert.equal(allowed(text, "/c$d"), false); // a $ before the end is literal
  assert.equal(allowed(text, "/cd"), true);
});

Deno.test("parseRobots: the longest match wins; Allow wins a tie", () => {
  const text = [
    "User-agent: *",
    "Disallow: /folder",
    "Allow: /folder/public",
    "Disallow: /folder/public/secret",
    "Allow: /tie",
    "Disallow: /tie",
    "Disallow: /page",
    "Allow: /page$",
    "Allow: /*.png",
    "Disallow: /img",
  ].join("\n");
  assert.equal(allowed(text, "/folder/x"), false);
  assert.equal(allowed(text, "/folder/public/x"), true);
  assert.equal(allowed(text, "/folder/public/secret/x"), false);
  assert.equal(allowed(text, "/tie/x"), true);
  assert.equal(allowed(text, "/page"), true, "/page$ is longer than /page");
  assert.equal(allowed(text, "/page.html"), false);
  assert.equal(allowed(text, "/img/a.png"), true, "'/*.png' (6) beats '/img' (4)");
  assert.equal(allowed(text, "/img/a.gif"), false);
});

Deno.test("parseRobots: * matches any characters, $ anchors the end", () => {
  const text = [
    "User-agent: *",
    "Disallow: /*.gif$",
    "Disallow: /fish*",
    "Disallow: /*/private/",
    "Disallow: /a*b*c$",
    "Disallow: /*?",
  ].join("\n");
  assert.equal(allowed(text, "/cats/funny.gif"), false);
  assert.equal(allowed(text, "/cats/funny.gif.png"), true);
  assert.equal(allowed(text, "/fish"), false);
  assert.equal(allowed(text, "/fishheads/x"), false);
  assert.equal(allowed(text, "/Fish"), true, "paths are case-sensitive");
  assert.equal(allowed(text, "/x/y/private/z"), false);
  assert.equal(allowed(text, "/private/z"), true);
  assert.equal(allowed(text, "/axxbxxc"), false);
  assert.equal(allowed(text, "/axxbxxcx"), true);
  assert.equal(allowed(text, "/abcbc"), false);
  assert.equal(allowed(text, "/anything?query"), false, "the query is matched too");
  assert.equal(allowed(text, "/anything#fragment"), true, "the fragment is not");
});

Deno.test("parseRobots: $ anywhere but the end is an ordinary character", () => {
  const text = "User-agent: *\nDisallow: /a$b\n";
  assert.equal(allowed(text, "/a$b/c"), false);
  assert.equal(allowed(text, "/a"), true);
});

Deno.test("parseRobots: the query is part of the path matched", () => {
  const text = "User-agent: *\nDisallow: /search?q=\nDisallow: /*&sort=";
  assert.equal(allowed(text, "/search?q=cats"), false);
  assert.equal(allowed(text, "/search"), true);
  assert.equal(allowed(text, "/list?page=2&sort=asc"), false);
  assert.equal(allowed(text, "/list?page=2"), true);
});

Deno.test("parseRobots: percent-encoding is normalized on both sides (RFC 9309 2.2.2)", () => {
  const text = [
    "User-agent: *",
    "Disallow: /foo/bar/ツ",
    "Disallow: /baz/%62%61%7A",
    "Disallow: /lower/%e3%83%84",
    "Disallow: /slash/a%2Fb",
    "Disallow: /space here",
  ].join("\n");
  assert.equal(allowed(text, "/foo/bar/%E3%83%84"), false);
  assert.equal(allowed(text, "/foo/bar/ツ"), false);
  assert.equal(allowed(text, "/baz/baz"), false, "%62%61%7A is unreserved: decoded");
  assert.equal(allowed(text, "/baz/%62az"), false);
  assert.equal(allowed(text, "/lower/%E3%83%84"), false, "hex case does not matter");
  assert.equal(allowed(text, "/slash/a%2fb"), false);
  assert.equal(allowed(text, "/slash/a/b"), true, "%2F is reserved: not decoded");
  assert.equal(allowed(text, "/space%20here"), false);
});

Deno.test("parseRobots: an empty Disallow allows all; /robots.txt is always allowed", () => {
  assert.equal(allowed("User-agent: *\nDisallow:\n", "/anything"), true);
  assert.equal(allowed("User-agent: *\nDisallow: \nDisallow: /x\n", "/x"), false);
  const all = "User-agent: *\nDisallow: /\n";
  assert.equal(allowed(all, "/anything"), false);
  assert.equal(allowed(all, "/"), false);
  assert.equal(allowed(all, "/robots.txt"), true);
  assert.equal(allowed(all, "/robots.txt?x=1"), true);
});

Deno.test("parseRobots: patterns that do not start with / or * are ignored", () => {
  assert.equal(allowed("User-agent: *\nDisallow: private\n", "/private"), true);
  assert.equal(allowed("User-agent: *\nDisallow: *private\n", "/x/private"), false);
});

Deno.test("parseRobots: Crawl-delay of the chosen group, the largest if several", () => {
  const text = [
    "User-agent: *",
    "Crawl-delay: 10",
    "User-agent: downpour",
    "Crawl-delay: 0.5",
    "Disallow: /x",
    "User-agent: downpour",
    "Crawl-delay: 2",
    "User-agent: other",
    "Crawl-delay: nonsense",
  ].join("\n");
  assert.equal(parseRobots(text, UA).crawlDelay, 2);
  assert.equal(parseRobots(text, "somebot").crawlDelay, 10);
  assert.equal(parseRobots(text, "other").crawlDelay, undefined);
  assert.equal(parseRobots("User-agent: *\nDisallow: /\n", UA).crawlDelay, undefined);
});

Deno.test("parseRobots: pathological wildcards take linear-ish time", () => {
  const pattern = "/" + "*a".repeat(50) + "*b$";
  const rules = parseRobots(`User-agent: *\nDisallow: ${pattern}\n`, UA);
  const started = performance.now();
  assert.equal(rules.allows(new URL("https://example.com/" + "a".repeat(5000))), true);
  assert.ok(performance.now() - started < 2000, "took too long");
});

Deno.test("parseRobots: bad arguments are TypeErrors", () => {
  assert.throws(() => parseRobots(1 as unknown as string, UA), TypeError);
  assert.throws(() => parseRobots("", undefined as unknown as string), {
    name: "TypeError",
    message: /'userAgent' must be a string/,
  });
});

Deno.test("RobotsRules: match gives the deciding rule as written", () => {
  const rules = new RobotsRules([
    { allow: false, path: "/a" },
    { allow: true, path: "/a/b" },
    { allow: false, path: "" },
  ], 3);
  assert.deepEqual(rules.match(new URL("https://x/a/c")), { allow: false, path: "/a" });
  assert.deepEqual(rules.match(new URL("https://x/a/b")), { allow: true, path: "/a/b" });
  assert.equal(rules.match(new URL("https://x/c")), undefined);
  assert.equal(rules.crawlDelay, 3);
  assert.equal(new RobotsRules().allows(new URL("https://x/anything")), true);
  assert.throws(() => new RobotsRules("x" as unknown as []), TypeError);
  assert.throws(() => new RobotsRules([{ allow: "yes" as unknown as boolean, path: "/" }]), {
    name: "TypeError",
  });
  assert.throws(() => new RobotsRules([], -1), RangeError);
});

/** Serves `handler` on 127.0.0.1 for the length of `fn`, counting robots.txt requests. */
async function withRobotsHost(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (origin: string, hits: () => number, agents: string[]) => Promise<void>,
): Promise<void> {
  let hits = 0;
  const agents: string[] = [];
  await using server = localServer((request) => {
    if (new URL(request.url).pathname === "/robots.txt") {
      hits++;
      agents.push(request.headers.get("user-agent") ?? "");
    }
    return handler(request);
  });
  await fn(server.origin, () => hits, agents);
}

function robots(text: string): (request: Request) => Response {
  return (request) =>
    new URL(request.url).pathname === "/robots.txt"
      ? new Response(text)
      : new Response("not here", { status: 500 });
}

Deno.test("RobotsCache: rules are honoured, and refusals name robots.txt and the rule", async () => {
  const text = "User-agent: *\nDisallow: /\n\nUser-agent: downpour\nDisallow: /private\n";
  await withRobotsHost(robots(text), async (origin, hits, agents) => {
    const cache = new RobotsCache({ userAgent: UA });
    assert.equal(await cache.check(new URL(`${origin}/cat.png`)), true);
    assert.equal(
      await cache.check(new URL(`${origin}/private/cat.png`)),
      `refused by ${origin}/robots.txt (Disallow: /private)`,
    );
    assert.equal(await cache.check(new URL(`${origin}/robots.txt`)), true);
    assert.equal(hits(), 1);
    assert.deepEqual(agents, [UA], "our user agent is sent");
    assert.equal((await cache.rules(new URL(origin)))?.allows(new URL(`${origin}/x`)), true);
  });
});

Deno.test("RobotsCache: 20 concurrent checks of an origin share one fetch", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const handler = async (request: Request) => {
    await gate; // hold the answer until every check is waiting
    return robots("User-agent: *\nDisallow: /odd\n")(request);
  };
  await withRobotsHost(handler, async (origin, hits) => {
    const cache = new RobotsCache({ userAgent: UA });
    const checks = Array.from(
      { length: 20 },
      (_, i) => cache.check(new URL(`${origin}/${i % 2 ? "odd" : "even"}/${i}.png`)),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    const verdicts = await Promise.all(checks);
    assert.equal(hits(), 1);
    assert.equal(verdicts.filter((v) => v === true).length, 10);
    assert.equal(verdicts.filter((v) => typeof v === "string").length, 10);
    assert.equal(await cache.check(new URL(`${origin}/later.png`)), true);
    assert.equal(hits(), 1);
  });
});

Deno.test("RobotsCache: each origin has its own robots.txt", async () => {
  await withRobotsHost(robots("User-agent: *\nDisallow: /\n"), async (closed, closedHits) => {
    await withRobotsHost(robots(""), async (open, openHits) => {
      const cache = new RobotsCache({ userAgent: UA });
      const results = await Promise.all([
        cache.check(new URL(`${closed}/a.png`)),
        cache.check(new URL(`${open}/a.png`)),
        cache.check(new URL(`${closed}/b.png`)),
      ]);
      assert.deepEqual(results, [
        `refused by ${closed}/robots.txt (Disallow: /)`,
        true,
        results[2],
      ]);
      assert.equal(typeof results[2], "string");
      assert.equal(closedHits(), 1);
      assert.equal(openHits(), 1);
    });
  });
});

Deno.test("RobotsCache: 4xx allows everything", async () => {
  for (const status of [401, 403, 404, 410]) {
    await withRobotsHost(() => new Response("no such file", { status }), async (origin) => {
      const cache = new RobotsCache({ userAgent: UA });
      assert.equal(await cache.check(new URL(`${origin}/cat.png`)), true, `HTTP ${status}`);
    });
  }
});

Deno.test("RobotsCache: 5xx and 429 disallow the whole origin, saying robots.txt was unreachable", async () => {
  for (const status of [500, 503, 429]) {
    await withRobotsHost(() => new Response("down", { status }), async (origin, hits) => {
      const cache = new RobotsCache({ userAgent: UA });
      const verdict = await cache.check(new URL(`${origin}/cat.png`));
      assert.equal(
        verdict,
        `refused: ${origin}/robots.txt was unreachable (HTTP ${status}), so the whole site is disallowed`,
      );
      assert.equal(await cache.check(new URL(`${origin}/robots.txt`)), verdict);
      assert.equal(hits(), 1);
    });
  }
});

Deno.test("RobotsCache: an unreachable robots.txt is asked again after retryUnreachable", async () => {
  let calls = 0;
  const handler = () =>
    ++calls === 1 ? new Response("down", { status: 503 }) : new Response("User-agent: *\n");
  await withRobotsHost(handler, async (origin, hits) => {
    const cache = new RobotsCache({ userAgent: UA, retryUnreachable: 50 });
    assert.match(String(await cache.check(new URL(`${origin}/a.png`))), /unreachable/);
    assert.match(String(await cache.check(new URL(`${origin}/a.png`))), /unreachable/);
    assert.equal(hits(), 1, "not before retryUnreachable");
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await cache.check(new URL(`${origin}/a.png`)), true);
    assert.equal(await cache.check(new URL(`${origin}/b.png`)), true);
    assert.equal(hits(), 2);
  });
});

Deno.test("RobotsCache: a network error disallows the origin", async () => {
  const server = localServer(() => new Response());
  const origin = server.origin;
  await server.shutdown(); // nothing listens there any more
  const cache = new RobotsCache({ userAgent: UA });
  const verdict = await cache.check(new URL(`${origin}/cat.png`));
  assert.match(
    String(verdict),
    new RegExp(`^refused: ${origin}/robots.txt was unreachable \\(.+\\)`),
  );
});

Deno.test("RobotsCache: a timeout disallows the origin", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const handler = async () => {
    await gate;
    return new Response("User-agent: *\n");
  };
  await withRobotsHost(handler, async (origin) => {
    const cache = new RobotsCache({ userAgent: UA, timeout: 50 });
    try {
      assert.equal(
        await cache.check(new URL(`${origin}/cat.png`)),
        `refused: ${origin}/robots.txt was unreachable (timed out after 50 ms), so the whole site is disallowed`,
      );
    } finally {
      release();
    }
  });
});

Deno.test("RobotsCache: a body that stalls counts against the timeout", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const handler = () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("User-agent: *\nDisallow: /\n"));
        // Never closes; ends long after the test would time out.
        timer = setTimeout(() => controller.close(), 2000);
      },
      cancel() {
        clearTimeout(timer);
      },
    });
    return new Response(body);
  };
  await withRobotsHost(handler, async (origin) => {
    const cache = new RobotsCache({ userAgent: UA, timeout: 100 });
    try {
      assert.match(String(await cache.check(new URL(`${origin}/a`))), /timed out after 100 ms/);
    } finally {
      clearTimeout(timer);
    }
  });
});

Deno.test("RobotsCache: up to five redirects are followed, more allow everything", async () => {
  /** robots.txt redirects to /hop1, ... /hopN, which redirects to the real file. */
  const chain = (redirects: number) => (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === "/final.txt") return new Response("User-agent: *\nDisallow: /\n");
    const hop = path === "/robots.txt" ? 0 : Number(/^\/hop(\d+)$/.exec(path)?.[1] ?? NaN);
    if (Number.isNaN(hop)) return new Response("no", { status: 404 });
    const location = hop + 1 < redirects ? `/hop${hop + 1}` : "/final.txt";
    return new Response(null, { status: 301, headers: { location } });
  };
  await withRobotsHost(chain(5), async (origin) => {
    const cache = new RobotsCache({ userAgent: UA });
    assert.equal(
      await cache.check(new URL(`${origin}/cat.png`)),
      `refused by ${origin}/robots.txt (Disallow: /)`,
    );
  });
  await withRobotsHost(chain(6), async (origin) => {
    const cache = new RobotsCache({ userAgent: UA });
    assert.equal(await cache.check(new URL(`${origin}/cat.png`)), true);
  });
});

Deno.test("RobotsCache: a redirect to another origin is followed", async () => {
  await withRobotsHost(robots("User-agent: *\nDisallow: /x\n"), async (target) => {
    const redirect = () =>
      new Response(null, { status: 302, headers: { location: `${target}/robots.txt` } });
    await withRobotsHost(redirect, async (origin) => {
      const cache = new RobotsCache({ userAgent: UA });
      assert.equal(
        await cache.check(new URL(`${origin}/x/cat.png`)),
        `refused by ${origin}/robots.txt (Disallow: /x)`,
      );
    });
  });
});

Deno.test("RobotsCache: only the first 500 KiB are read, and a cut line is dropped", async () => {
  const head = "User-agent: *\nDisallow: /early\n";
  const filler = "# " + "x".repeat(97) + "\n"; // 100 bytes
  const room = 500 * 1024 - head.length;
  let text = head + filler.repeat(Math.floor(room / 100));
  // The next line straddles the limit: cut, it would read "Disallow: /" and shut everything.
  // Whole, it disallows only paths starting with "/ ... x", which no URL has.
  text += "Disallow: /" + " ".repeat(200) + "x\nDisallow: /late\n";
  assert.ok(text.length > 500 * 1024 && text.length - 200 < 500 * 1024);
  await withRobotsHost(robots(text + "z".repeat(100_000)), async (origin) => {
    const cache = new RobotsCache({ userAgent: UA });
    assert.match(String(await cache.check(new URL(`${origin}/early/a.png`))), /Disallow: \/early/);
    assert.equal(await cache.check(new URL(`${origin}/late/a.png`)), true);
    assert.equal(await cache.check(new URL(`${origin}/other/a.png`)), true);
  });
});

Deno.test("RobotsCache: an injected fetch; non-HTTP URLs are not checked", async () => {
  const asked: string[] = [];
  const fetcher = (input: string | URL | Request, init?: RequestInit) => {
    asked.push(String(input));
    assert.equal(init?.redirect, "manual");
    return Promise.resolve(new Response("User-agent: downpour\nDisallow: /no\n"));
  };
  const cache = new RobotsCache({ userAgent: UA, fetch: fetcher as typeof fetch });
  assert.equal(await cache.check(new URL("data:text/plain,hi")), true);
  assert.equal(await cache.check(new URL("https://example.com/yes.png")), true);
  assert.equal(
    await cache.check(new URL("https://example.com/no.png")),
    "refused by https://example.com/robots.txt (Disallow: /no)",
  );
  assert.deepEqual(asked, ["https://example.com/robots.txt"]);
  const throwing = () => Promise.reject(new TypeError("boom"));
  const broken = new RobotsCache({ userAgent: UA, fetch: throwing as typeof fetch });
  assert.equal(
    await broken.check(new URL("https://example.com/a.png")),
    "refused: https://example.com/robots.txt was unreachable (boom), so the whole site is disallowed",
  );
});

Deno.test("RobotsCache: an aborted signal makes origins unreachable", async () => {
  const controller = new AbortController();
  controller.abort();
  let calls = 0;
  const fetcher = (_input: string | URL | Request, init?: RequestInit) => {
    calls++;
    return init?.signal?.aborted
      ? Promise.reject(init.signal.reason)
      : Promise.resolve(new Response(""));
  };
  const cache = new RobotsCache({
    userAgent: UA,
    fetch: fetcher as typeof fetch,
    signal: controller.signal,
  });
  assert.match(
    String(await cache.check(new URL("https://example.com/a"))),
    /unreachable \(aborted\)/,
  );
  assert.equal(calls, 1);
});

Deno.test("RobotsCache: bad options are TypeErrors and RangeErrors", async () => {
  assert.throws(() => new RobotsCache({ userAgent: 1 as unknown as string }), TypeError);
  assert.throws(
    () => new RobotsCache({ userAgent: UA, fetch: "x" as unknown as typeof fetch }),
    TypeError,
  );
  assert.throws(() => new RobotsCache({ userAgent: UA, timeout: 0 }), {
    name: "RangeError",
    message: /'timeout' must be a positive number of milliseconds/,
  });
  assert.throws(() => new RobotsCache({ userAgent: UA, retryUnreachable: -5 }), RangeError);
  await assert.rejects(
    () => new RobotsCache({ userAgent: UA }).check("http://x/" as unknown as URL),
    TypeError,
  );
});
