import assert from "node:assert/strict";
import { parseLatencyRange, serveHosts, spreadLatencies } from "../testing/hosts.ts";

const DEMO = new URL("../demo.ts", import.meta.url).pathname;

async function runDemo(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEMO, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("demo.ts, small and fast, verifies every file it downloads", async () => {
  const { code, stdout, stderr } = await runDemo(
    "--files",
    "20",
    "--latency",
    "20",
    "--hosts",
    "4",
  );
  assert.equal(code, 0, `exit status ${code}\n${stdout}\n${stderr}`);
  // Warm-up aside, 20 + 40 files sequentially and 20 + 40 in parallel.
  const verified = /Verified: (\d+) of (\d+) files byte for byte\./.exec(stdout);
  assert.ok(verified, stdout);
  assert.equal(Number(verified[1]), 120, stdout);
  assert.equal(verified[2], verified[1], stdout);
  assert.match(stdout, /each host waits 20 ms before its response headers/);
  assert.match(stdout, /bound 24 \/ 20 ms = 1200 files\/s/); // 4 hosts x 6 per host < 2 x 16
  for (const [mode, files] of [["sequential", 20], ["sequential", 40], ["parallel", 40]]) {
    assert.match(
      stdout,
      new RegExp(`^${mode} +${files} +\\d+\\.\\d\\d +[\\d.]+ +[\\d.]+ +[\\d.]+x$`, "m"),
    );
  }
  assert.match(stdout, /time\(2N\) \/ time\(N\): sequential \d\.\d\d, parallel \d\.\d\d/);
});

Deno.test("demo.ts rejects bad flags with exit status 2", async () => {
  const { code, stderr } = await runDemo("--files", "0");
  assert.equal(code, 2);
  assert.match(stderr, /--files/);
  assert.equal((await runDemo("--latency", "9-3")).code, 2);
});

Deno.test("serveHosts: one server per loopback address, each with its own latency", async () => {
  assert.deepEqual(spreadLatencies(5, 10, 150), [10, 45, 80, 115, 150]);
  assert.deepEqual(spreadLatencies(1, 7, 9), [7]);
  assert.deepEqual(parseLatencyRange("10-150"), { min: 10, max: 150 });
  assert.deepEqual(parseLatencyRange("20"), { min: 20, max: 20 });
  assert.equal(parseLatencyRange("150-10"), undefined);
  await using hosts = await serveHosts({ latencies: [0, 120], images: 1, first: 20 });
  assert.deepEqual(hosts.servers.map((s) => s.hostname), ["127.0.0.20", "127.0.0.21"]);
  const time = async (url: URL) => {
    const start = performance.now();
    const response = await fetch(new URL("img/0.png", url));
    await response.body?.cancel();
    assert.equal(response.status, 200);
    return performance.now() - start;
  };
  await time(hosts.servers[0]!.url); // connection set-up out of the way
  assert.ok(await time(hosts.servers[1]!.url) >= 115);
  assert.ok(await time(hosts.servers[0]!.url) < 100);
});
