/**
 * DNS rebinding against `denyPrivate`, with a DNS server of the test's own, inside a network
 * namespace where only loopback exists (`unshare --net --mount`, as root). The file runs itself
 * again in there, with `/etc/resolv.conf` pointing at 127.0.0.1 and `/etc/hosts` all but empty;
 * elsewhere the test is skipped with a message.
 *
 * In the namespace, the public address 93.184.215.14 is put on `lo` too, so that an origin the
 * guard allows (a public one) is reachable without any test hook: "public.test" is served there.
 * The "secret" server listens on 127.0.0.1, on the same port, and must never be reached. Each
 * rebinding name answers a public address to its first A query and 127.0.0.1 to every later one.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { download } from "../mod.ts";
import { checkPublic } from "../src/address_guard.ts";
import { EgressGuard } from "../src/egress.ts";
import { syntheticPng } from "../testing/png.ts";
import { startDns } from "./dns.ts";
import { collect, isFile, tempDir } from "./helpers.ts";

const INSIDE = Deno.env.get("DOWNPOUR_IN_NETNS") === "1";
/** A public address, served on `lo` in the namespace. */
const PUBLIC = "93.184.215.14";
/** A public address with no route in the namespace: connecting to it fails at once. */
const NOWHERE = "93.184.215.15";

/** Why the namespace cannot be made here, or `undefined` when it can. */
function cannotRun(): string | undefined {
  if (Deno.build.os !== "linux") return "network namespaces are Linux's";
  if (Deno.uid() !== 0) return "unshare --net needs root";
  if (!isFile("/usr/bin/unshare")) return "/usr/bin/unshare is missing";
  if (!ipTool()) return "the ip(8) tool is missing";
  return undefined;
}

function ipTool(): string | undefined {
  return ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].find(isFile);
}

if (!INSIDE) {
  const why = cannotRun();
  if (why) console.log(`skipped: the DNS-rebinding test (tests/rebinding_test.ts): ${why}`);
  Deno.test({
    name: "denyPrivate holds against DNS rebinding (in a network namespace)",
    ignore: why !== undefined,
    async fn() {
      await using dir = await tempDir();
      await Deno.writeTextFile(
        `${dir.path}/resolv.conf`,
        "nameserver 127.0.0.1\noptions attempts:1 timeout:2\n",
      );
      await Deno.writeTextFile(`${dir.path}/hosts`, "127.0.0.1 localhost\n");
      const script = [
        "set -e",
        `"$1" link set lo up`,
        `"$1" addr add ${PUBLIC}/32 dev lo`,
        `mount --bind "$2/resolv.conf" /etc/resolv.conf`,
        `mount --bind "$2/hosts" /etc/hosts`,
        `exec "$3" test -A --trace-leaks --no-check "$4"`,
      ].join("\n");
      const self = fileURLToPath(import.meta.url);
      const output = await new Deno.Command("/usr/bin/unshare", {
        args: [
          "--net",
          "--mount",
          "sh",
          "-c",
          script,
          "sh",
          ipTool()!,
          dir.path,
          Deno.execPath(),
          self,
        ],
        env: { DOWNPOUR_IN_NETNS: "1", NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, `the tests in the namespace failed:\n${text}`);
      assert.match(text, /ok \| 1 passed \(5 steps\)/, text);
    },
  });
} else {
  Deno.test("in the namespace: the connection goes to the checked address, or nowhere", async (t) => {
    const png = await syntheticPng(1);
    let pinned = PUBLIC;
    const rebinding = (n: number) => (n === 0 ? [NOWHERE] : ["127.0.0.1"]);
    await using dns = await startDns({
      "public.test": [PUBLIC],
      "pinned.test": () => [pinned],
      "rebind-a.test": rebinding,
      "rebind-b.test": rebinding,
      "rebind-c.test": rebinding,
      "rebind-r.test": rebinding,
      "naive.test": rebinding,
    });
    const secret = { requests: [] as string[] };
    await using secretServer = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (r) => {
        secret.requests.push(new URL(r.url).pathname);
        return new URL(r.url).pathname === "/robots.txt"
          ? new Response("User-agent: *\nAllow: /\n")
          : new Response(png);
      },
    );
    const port = secretServer.addr.port;
    const origin = { requests: [] as string[] };
    await using _public = Deno.serve({ hostname: PUBLIC, port, onListen() {} }, (r) => {
      const url = new URL(r.url);
      origin.requests.push(url.pathname);
      const to = url.pathname === "/robots.txt"
        ? `http://rebind-r.test:${port}/robots.txt`
        : url.searchParams.get("to");
      if (to) return new Response(null, { status: 302, headers: { location: to } });
      return new Response(url.pathname === "/whoami" ? "public" : png);
    });
    const run = async (urls: string[], robots = false) => {
      await using dir = await tempDir();
      const options = { out: dir.path, denyPrivate: true, robots, retries: 0, workers: 1 };
      return await collect(download(urls, options));
    };

    await t.step("(d) a check, then a plain fetch, is rebound to loopback", async () => {
      const url = new URL(`http://naive.test:${port}/secret.png`);
      assert.equal(await checkPublic(url), true, "the check saw the public address");
      const response = await fetch(url); // asks DNS again, and gets 127.0.0.1
      assert.deepEqual(await response.bytes(), png);
      assert.deepEqual(secret.requests, ["/secret.png"]);
      secret.requests.length = 0;
    });

    await t.step("a pooled connection stays on the address it was checked with", async () => {
      await using guard = new EgressGuard();
      const url = `http://pinned.test:${port}/whoami`;
      const first = await fetch(url, { client: guard.client });
      assert.equal(await first.text(), "public");
      pinned = "127.0.0.1"; // the name now answers loopback
      const second = await fetch(url, { client: guard.client });
      assert.equal(await second.text(), "public", "the kept-alive connection was reused");
      await using fresh = new EgressGuard();
      const error = await fetch(url, { client: fresh.client }).then(() => undefined, (e) => e);
      assert.match(fresh.refusal(url, error)!, /resolves to 127\.0\.0\.1 \(loopback\)/);
      assert.deepEqual(secret.requests, []);
      origin.requests.length = 0;
    });

    await t.step("(a) a URL whose name rebinds to loopback never reaches it", async () => {
      const [result] = await run([`http://rebind-a.test:${port}/a.png`]);
      assert.equal(result!.ok, false, "the secret was fetched");
      assert.equal(result!.reason, "private", result!.error);
      assert.equal(
        result!.error,
        "refused: rebind-a.test resolves to 127.0.0.1 (loopback), a private address (--deny-private)",
      );
      assert.ok(dns.queries.get("rebind-a.test")! >= 2, "the check and the guard both asked");
      assert.deepEqual(secret.requests, []);
    });

    await t.step("(b) a redirect from an allowed origin to such a name is refused", async () => {
      const to = encodeURIComponent(`http://rebind-b.test:${port}/b.png`);
      const [result] = await run([`http://public.test:${port}/go?to=${to}`]);
      assert.deepEqual(origin.requests, ["/go"], "the first hop went to the public origin");
      assert.equal(result!.ok, false, "the secret was fetched");
      assert.equal(result!.reason, "private", result!.error);
      assert.equal(result!.status, 302);
      assert.deepEqual(secret.requests, []);
      origin.requests.length = 0;
    });

    await t.step(
      "(c) robots.txt on such a name, or redirected to one, is never fetched",
      async () => {
        const results = await run([
          `http://rebind-c.test:${port}/c.png`,
          `http://public.test:${port}/c.png`,
        ], true);
        assert.deepEqual(origin.requests, ["/robots.txt"]);
        for (const result of results) {
          assert.equal(result.ok, false, `${result.url} was fetched`);
          assert.equal(result.reason, "robots", result.error);
          assert.match(result.error!, /robots\.txt was unreachable \(refused: rebind-[cr]\.test/);
        }
        assert.deepEqual(secret.requests, []);
      },
    );
  });
}
