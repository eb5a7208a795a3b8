import assert from "node:assert/strict";
import { checkPublic } from "../src/address_guard.ts";
import { type Check, EgressGuard } from "../src/egress.ts";
import { followRedirects } from "../src/redirects.ts";
import { localServer } from "./helpers.ts";

/** A public address (it is not in any special range), and never connected to here. */
const PUBLIC = "93.184.215.14";

/** A loopback server that counts its requests and the connections they came on. */
function counted(handler: (request: Request) => Response = () => new Response("ok")) {
  const seen = { requests: 0, paths: [] as string[], connections: new Set<number>() };
  const server = localServer((request, info) => {
    seen.requests++;
    seen.paths.push(new URL(request.url).pathname);
    seen.connections.add(info.remoteAddr.port);
    return handler(request);
  });
  return Object.assign(seen, { server, port: server.addr.port });
}

/** Lets `ok.test` through (it resolves to loopback here); any other host gets checkPublic. */
const allowOk: Check = (url, resolve) =>
  url.hostname === "ok.test" ? Promise.resolve(true) : checkPublic(url, resolve);

Deno.test("EgressGuard: a name that resolves to loopback is refused, with checkPublic's sentence", async () => {
  const secret = counted(() => new Response("SECRET"));
  await using _server = secret.server;
  await using guard = new EgressGuard({ resolve: () => Promise.resolve(["127.0.0.1"]) });
  const url = `http://rebind.test:${secret.port}/secret`;
  const error = await fetch(url, { client: guard.client }).then(
    async (response) => assert.fail(`fetched: ${await response.text()}`),
    (error: unknown) => error,
  );
  assert.ok(error instanceof TypeError);
  assert.equal(
    guard.refusal(url, error),
    "refused: rebind.test resolves to 127.0.0.1 (loopback), a private address (--deny-private)",
  );
  assert.equal(secret.requests, 0);
});

Deno.test("EgressGuard: every answer is checked, and IP literals as they are", async () => {
  const secret = counted();
  await using _server = secret.server;
  let lookups = 0;
  await using guard = new EgressGuard({
    resolve: () => (lookups++, Promise.resolve([PUBLIC, "127.0.0.1"])),
  });
  const cases: [string, string][] = [
    [
      `http://mixed.test:${secret.port}/`,
      "refused: mixed.test resolves to 127.0.0.1 (loopback), a private address (--deny-private)",
    ],
    [
      `https://mixed.test:${secret.port}/`,
      "refused: mixed.test resolves to 127.0.0.1 (loopback), a private address (--deny-private)",
    ],
    [
      `http://127.0.0.1:${secret.port}/`,
      "refused: 127.0.0.1 (loopback) is a private address (--deny-private)",
    ],
    [
      `http://[::1]:${secret.port}/`,
      "refused: ::1 (loopback) is a private address (--deny-private)",
    ],
    [`http://localhost:${secret.port}/`, "refused: localhost is a loopback name (--deny-private)"],
  ];
  for (const [url, sentence] of cases) {
    const error = await fetch(url, { client: guard.client }).then(() => undefined, (e) => e);
    assert.equal(guard.refusal(url, error), sentence, url);
  }
  assert.equal(lookups, 2, "only the names were resolved");
  assert.equal(secret.requests, 0);
});

Deno.test("EgressGuard: an allowed host gets its bytes, over one kept-alive connection", async () => {
  const body = new Uint8Array(300 * 1024).map((_, i) => (i * 7919) >> 3);
  const origin = counted(() => new Response(body.slice()));
  await using _server = origin.server;
  let lookups = 0;
  await using guard = new EgressGuard({
    resolve: () => (lookups++, Promise.resolve(["127.0.0.1"])),
    check: allowOk,
  });
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`http://ok.test:${origin.port}/${i}.png`, {
      client: guard.client,
    });
    assert.deepEqual(await response.bytes(), body);
  }
  assert.equal(origin.requests, 3);
  assert.equal(origin.connections.size, 1, "the pooled connection was reused");
  assert.equal(lookups, 1, "the host was resolved once, for its one connection");
});

Deno.test("EgressGuard: a failure to connect is not taken for a refusal", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  await using guard = new EgressGuard({
    resolve: () => Promise.resolve(["127.0.0.1"]),
    check: allowOk,
  });
  const url = `http://ok.test:${port}/`;
  const error = await fetch(url, { client: guard.client }).then(() => undefined, (e) => e);
  assert.ok(error instanceof TypeError);
  assert.match(String(error.cause), /connection refused/i);
  assert.equal(guard.refusal(url, error), undefined);
});

Deno.test("EgressGuard: a redirect to a private address is refused at its hop", async () => {
  const origin = counted((request) =>
    new URL(request.url).pathname === "/go"
      ? new Response(null, {
        status: 302,
        headers: { location: `http://evil.test:${new URL(request.url).port}/secret` },
      })
      : new Response("SECRET")
  );
  await using _server = origin.server;
  await using guard = new EgressGuard({
    resolve: () => Promise.resolve(["127.0.0.1"]),
    check: allowOk,
  });
  const followed = await followRedirects(`http://ok.test:${origin.port}/go`, {
    init: {},
    maxRedirects: 5,
    denyPrivate: false, // only the guard: its refusal is what is under test
    guard,
  });
  assert.deepEqual(followed, {
    refused: "private",
    verdict:
      "refused: evil.test resolves to 127.0.0.1 (loopback), a private address (--deny-private)",
    status: 302,
  });
  assert.deepEqual(origin.paths, ["/go"]);
});

Deno.test("EgressGuard: a client without the guard's credentials is turned away", async () => {
  const origin = counted();
  await using _server = origin.server;
  await using guard = new EgressGuard({
    resolve: () => Promise.resolve(["127.0.0.1"]),
    check: allowOk,
  });
  // Another local process knows the port, not the password.
  await using stranger = Deno.createHttpClient({
    proxy: { transport: "socks5", url: `socks5h://127.0.0.1:${guard.port}` },
  });
  await assert.rejects(fetch(`http://ok.test:${origin.port}/`, { client: stranger }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: guard.port });
  try {
    await conn.write(new Uint8Array([5, 1, 0])); // SOCKS5, no authentication only
    const answer = new Uint8Array(2);
    assert.equal(await conn.read(answer), 2);
    assert.deepEqual(answer, new Uint8Array([5, 0xff]));
  } finally {
    conn.close();
  }
  assert.equal(origin.requests, 0);
});

Deno.test("EgressGuard: close() ends the connections it holds, and refuses later ones", async () => {
  const origin = counted();
  await using _server = origin.server;
  const guard = new EgressGuard({ resolve: () => Promise.resolve(["127.0.0.1"]), check: allowOk });
  const response = await fetch(`http://ok.test:${origin.port}/`, { client: guard.client });
  await response.body?.cancel();
  await guard.close();
  await guard.close(); // twice is fine
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: guard.port }));
});

Deno.test("followRedirects with denyPrivate and a guard: the guard alone checks each hop (no second DNS look-up)", async () => {
  const origin = counted((request) =>
    new URL(request.url).pathname === "/go"
      ? new Response(null, { status: 302, headers: { location: "/x.png" } })
      : new Response("ok")
  );
  await using _server = origin.server;
  let lookups = 0;
  await using guard = new EgressGuard({
    resolve: () => (lookups++, Promise.resolve(["127.0.0.1"])),
    check: allowOk,
  });
  // ok.test is known to the guard's resolver only: a check of its own by the system's DNS
  // would refuse it (and cost two queries a hop).
  const followed = await followRedirects(`http://ok.test:${origin.port}/go`, {
    init: {},
    maxRedirects: 2,
    denyPrivate: true,
    guard,
  });
  assert.ok("response" in followed, JSON.stringify(followed));
  assert.equal(await followed.response.text(), "ok");
  assert.deepEqual(origin.paths, ["/go", "/x.png"]);
  assert.equal(lookups, 1);
});
