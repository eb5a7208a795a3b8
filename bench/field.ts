#!/usr/bin/env -S deno run -A
/**
 * The field benchmark: downpour, curl, wget2 and aria2 on an internet-like workload on loopback
 * (`field_server.ts`: 24 hosts with 10–150 ms of server-side delay, Zipf-weighted URLs, slow
 * links, a rate-limiting host, a stalling host, a host that refuses connections, 404s, one-time
 * 503s, redirects, and HTTPS from a CA made for the run). Each tool run is bounded in time and
 * verified file by file; the server counts the requests each tool sent inside a Retry-After
 * window it had announced.
 *
 * `deno run -A bench/field.ts [--urls N] [--rounds N] [--clean] [--timeout S] [--stall S]
 *   [--only downpour,curl,wget2,aria2,tuned] [--tuned="ARGS"] [--tmp DIR] [--keep]`
 *
 * See bench/README.md.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startField } from "./field_server.ts";

const HELP = `Usage: deno run -A bench/field.ts [options]

  --urls N        URLs in the list (default 5000)
  --rounds N      rounds; the tools' order alternates from round to round (default 1)
  --clean         no stalling host and no rate-limiting host
  --timeout S     kill a tool run after S seconds and record it (default 300)
  --stall S       how long a stalled response sends nothing before the server cuts it (default 120)
  --only LIST     a subset of: downpour,tuned,curl,wget2,aria2
  --tuned=ARGS    extra downpour arguments for the "downpour tuned" row (default "--idle-timeout 10";
                  "" drops the row); give it with "=", as --tuned="--idle-timeout 5", since its
                  value starts with "--"
  --tmp DIR       where the CA, lists and output go (default /dev/shm)
  --keep          keep that directory
  -h, --help      this text
`;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    urls: { type: "string", default: "5000" },
    rounds: { type: "string", default: "1" },
    clean: { type: "boolean", default: false },
    timeout: { type: "string", default: "300" },
    stall: { type: "string", default: "120" },
    only: { type: "string" },
    tuned: { type: "string", default: "--idle-timeout 10" },
    tmp: { type: "string", default: "/dev/shm" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  Deno.exit(0);
}
const positive = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`field.ts: --${name} must be a positive whole number, got '${text}'\n\n${HELP}`);
    Deno.exit(2);
  }
  return n;
};
const urlCount = positive("urls", values.urls);
const rounds = positive("rounds", values.rounds);
const timeoutS = positive("timeout", values.timeout);
const stallS = positive("stall", values.stall);

const ROOT = new URL("..", import.meta.url).pathname;
const HOSTS = 24;
const FIRST = 101;

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const output = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** A CA of our own and a leaf certificate for every address the hosts use. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=downpour field bench CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await run("openssl", [
    "req",
    ...ec,
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    `/CN=127.0.0.${FIRST}`,
  ], dir);
  const ips = Array.from({ length: HOSTS }, (_, k) => `IP:127.0.0.${FIRST + k}`).join(",");
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    `subjectAltName=${ips}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n` +
      `extendedKeyUsage=serverAuth\n`,
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "leaf.pem",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
  ], dir);
  return {
    ca: `${dir}/ca.pem`,
    cert: await Deno.readTextFile(`${dir}/leaf.pem`),
    key: await Deno.readTextFile(`${dir}/leaf.key`),
  };
}

interface Tool {
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
}

function tools(dir: string, out: string, ca: string, list: string, curlConfig: string): Tool[] {
  const downpour = (extra: string[]): Tool => ({
    name: extra.length ? `downpour ${extra.join(" ")}` : "downpour",
    cmd: Deno.execPath(),
    args: [
      "run",
      "-A",
      "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=100",
      `${ROOT}cli.ts`,
      "-i",
      list,
      "-o",
      out,
      "-q",
      ...extra,
    ],
    env: { DENO_CERT: ca },
  });
  const all: [string, Tool][] = [
    ["downpour", downpour([])],
    ...(values.tuned.trim()
      ? [["tuned", downpour(values.tuned.trim().split(/\s+/))] as [string, Tool]]
      : []),
    ["curl", {
      name: "curl",
      cmd: "curl",
      args: [
        "-sS",
        "--fail",
        "--parallel",
        "--parallel-max",
        "32",
        "--retry",
        "3",
        "--cacert",
        ca,
        "-K",
        curlConfig,
      ],
    }],
    ["wget2", {
      name: "wget2",
      cmd: "wget2",
      args: [
        "-q",
        "--max-threads=32",
        "--tries=4",
        "--no-robots",
        "-nd",
        "-P",
        out,
        `--ca-certificate=${ca}`,
        "-i",
        list,
      ],
    }],
    ["aria2", {
      name: "aria2",
      cmd: "aria2c",
      args: [
        "-j",
        "32",
        "-x1",
        "--max-tries=4",
        "--retry-wait=1",
        `--ca-certificate=${ca}`,
        "--file-allocation=none",
        "--download-result=hide",
        "--console-log-level=error",
        "--summary-interval=0",
        "--auto-file-renaming=false",
        "-d",
        out,
        "-i",
        list,
      ],
    }],
  ];
  void dir;
  const only = values.only?.split(",").map((s) => s.trim());
  return all.filter(([key]) => !only || only.includes(key)).map(([, tool]) => tool);
}

interface Result {
  tool: string;
  round: number;
  seconds: number;
  code: number | null;
  killed: boolean;
  correct: number;
  corrupt: number;
  missing: number;
  other: number;
  requests: number;
  sent429: number;
  insideRetryAfter: number;
  stalled: number;
}

const base = await Deno.makeTempDir({ dir: values.tmp, prefix: "downpour-field-" });
const field = await (async () => {
  const certs = await makeCerts(base);
  return {
    ca: certs.ca,
    server: startField({
      urls: urlCount,
      hosts: HOSTS,
      first: FIRST,
      stallSeconds: stallS,
      clean: values.clean,
      cert: certs.cert,
      key: certs.key,
    }),
  };
})();
const server = field.server;
const out = `${base}/out`;
const list = `${base}/urls.txt`;
const curlConfig = `${base}/curl.cfg`;
await Deno.writeTextFile(list, server.urls.map((u) => u.url).join("\n") + "\n");
await Deno.writeTextFile(
  curlConfig,
  server.urls.map((u) => `url = "${u.url}"\noutput = "${out}/${u.name}"\n`).join(""),
);
const obtainable = server.urls.filter((u) => u.obtainable).length;

const corruptNotes: string[] = [];
async function verify(): Promise<Pick<Result, "correct" | "corrupt" | "missing" | "other">> {
  const names = new Map(server.urls.map((u, i) => [u.name, i]));
  let correct = 0, corrupt = 0, other = 0;
  corruptNotes.length = 0;
  for await (const entry of Deno.readDir(out)) {
    if (entry.name.startsWith(".")) continue; // downpour's journal
    const i = names.get(entry.name);
    if (i === undefined || !entry.isFile) {
      other++;
      continue;
    }
    const saved = await Deno.readFile(`${out}/${entry.name}`);
    const expected = server.expected(i);
    const same = saved.length === expected.length && saved.every((b, j) => b === expected[j]);
    if (same && server.urls[i]!.obtainable) correct++;
    else {
      corrupt++;
      const kind = !server.urls[i]!.obtainable
        ? "a file for a URL that has none"
        : saved.length < expected.length && saved.every((b, j) => b === expected[j])
        ? `cut short (${saved.length} of ${expected.length} bytes)`
        : `different bytes (${saved.length} vs ${expected.length})`;
      if (corrupt <= 5) corruptNotes.push(`${entry.name}: ${kind}`);
    }
  }
  return { correct, corrupt, missing: obtainable - correct, other };
}

async function runTool(tool: Tool, round: number): Promise<Result> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  server.reset();
  const stem = `${base}/${tool.name.replace(/\W+/g, "_")}.r${round}`;
  const open = (suffix: string) =>
    Deno.open(`${stem}.${suffix}`, { write: true, create: true, truncate: true });
  const [stdout, stderr] = await Promise.all([open("out"), open("err")]);
  const start = performance.now();
  const child = new Deno.Command(tool.cmd, {
    args: tool.args,
    env: tool.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutS * 1000);
  const [status] = await Promise.all([
    child.status,
    child.stdout.pipeTo(stdout.writable),
    child.stderr.pipeTo(stderr.writable),
  ]).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - start) / 1000;
  const stats = server.stats();
  server.reset(); // ends stalled bodies before the check
  return {
    tool: tool.name,
    round,
    seconds,
    code: killed ? null : status.code,
    killed,
    ...await verify(),
    ...stats,
  };
}

const list_ = tools(base, out, field.ca, list, curlConfig);
const results: Result[] = [];
const roles = server.hosts.map((h) =>
  `${h.rank}:${h.role}${h.tls ? "/tls" : ""}/${h.latencyMs}ms/${
    server.urls.filter((u) => u.host === h).length
  }`
);
console.log(
  `field bench: ${urlCount} URLs over ${HOSTS} hosts (127.0.0.${FIRST}-${
    FIRST + HOSTS - 1
  }), ${obtainable} obtainable; ${values.clean ? "clean (no stall, no 429 host)" : "full"}; ` +
    `${rounds} round(s), ${timeoutS} s cap per run, stalls of ${stallS} s; ` +
    `${navigator.hardwareConcurrency} cores`,
);
console.log(`hosts (rank:role/latency/URLs): ${roles.join(" ")}`);
try {
  for (let round = 0; round < rounds; round++) {
    let order = round % 2 ? [...list_].reverse() : [...list_];
    const shift = Math.floor(round / 2) % order.length;
    order = [...order.slice(shift), ...order.slice(0, shift)];
    for (const tool of order) {
      const result = await runTool(tool, round);
      results.push(result);
      console.error(
        `round ${round + 1}: ${result.tool}: ${result.seconds.toFixed(1)} s${
          result.killed ? " (killed)" : ` exit ${result.code}`
        }, ${result.correct}/${obtainable} correct, ${result.corrupt} corrupt, ${result.requests} requests, ${result.sent429} 429s, ${result.insideRetryAfter} inside Retry-After, ${result.stalled} stalled${
          corruptNotes.length ? `; corrupt: ${corruptNotes.join(", ")}` : ""
        }`,
      );
    }
  }
} finally {
  await server.close();
  if (!values.keep) await Deno.remove(base, { recursive: true });
  else console.error(`kept ${base}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
console.log(
  `\n| tool | wall s | correct/obtainable | corrupt | requests inside Retry-After | requests | notes |`,
);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | --- |`);
for (const tool of list_) {
  const rs = results.filter((r) => r.tool === tool.name);
  if (!rs.length) continue;
  const killed = rs.filter((r) => r.killed).length;
  const codes = [...new Set(rs.filter((r) => !r.killed).map((r) => r.code))];
  const notes = [
    killed ? `killed at ${timeoutS} s in ${killed}/${rs.length}` : "",
    codes.length ? `exit ${codes.join("/")}` : "",
    rs.some((r) => r.other) ? `${Math.max(...rs.map((r) => r.other))} other files` : "",
  ].filter(Boolean).join(", ");
  const range = (xs: number[]) =>
    Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`;
  console.log(
    `| ${tool.name} | ${median(rs.map((r) => r.seconds)).toFixed(1)}${
      rs.length > 1
        ? ` (${Math.min(...rs.map((r) => r.seconds)).toFixed(1)}–${
          Math.max(...rs.map((r) => r.seconds)).toFixed(1)
        })`
        : ""
    } | ${range(rs.map((r) => r.correct))}/${obtainable} | ${range(rs.map((r) => r.corrupt))} | ${
      range(rs.map((r) => r.insideRetryAfter))
    } | ${range(rs.map((r) => r.requests))} | ${notes} |`,
  );
}
