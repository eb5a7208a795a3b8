/**
 * The Web Worker: it takes batches of jobs from the main thread, runs them all at once, and
 * sends the outcomes back in batches. The main thread decides how many it has in flight.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { EgressGuard } from "../egress.ts";
import { fetchToFile } from "./fetch_file.ts";
import type { FromWorker, Job, Outcome, ToWorker, WorkerConfig } from "../protocol.ts";
import { Watch, Watchdog } from "./watchdog.ts";

let config: WorkerConfig | undefined;
const watchdog = new Watchdog();
const running = new Set<Promise<void>>();
let pending: Outcome[] = [];
let flushScheduled = false;
let stopping = false;
/** With denyPrivate, every connection of this worker goes through this guard. */
let guard: EgressGuard | undefined;

function post(message: FromWorker): void {
  self.postMessage(message);
}

function flush(): void {
  flushScheduled = false;
  if (pending.length === 0) return;
  const outcomes = pending;
  pending = [];
  post({ type: "outcomes", outcomes });
}

function report(outcome: Outcome): void {
  pending.push(outcome);
  // The last download in flight reports at once: nothing else would join its batch.
  if (running.size <= 1) return flush();
  if (!flushScheduled) {
    flushScheduled = true;
    // Outcomes that finish in the same turn of the event loop travel together.
    queueMicrotask(flush);
  }
}

function start(job: Job, cfg: WorkerConfig): void {
  const watch = new Watch(cfg, job);
  watchdog.add(watch);
  const task = fetchToFile(job, cfg, watch, guard)
    .then((outcome) => {
      // A saved file tells the main thread how its host is doing.
      if (outcome.ok) Object.assign(outcome, watch.timings());
      if (!stopping) report(outcome);
    }, (error) => {
      if (!stopping) {
        report({ id: job.id, ok: false, bytes: 0, reason: "network", error: String(error) });
      }
    })
    .finally(() => {
      watchdog.delete(watch);
      running.delete(task);
    });
  running.add(task);
}

async function stop(): Promise<void> {
  stopping = true;
  watchdog.abortAll(new DOMException("The download was stopped", "AbortError"));
  // Each download removes its temporary file in its own `finally`.
  await Promise.allSettled([...running]);
  await guard?.close();
  post({ type: "stopped" });
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      config = message.config;
      if (config.denyPrivate) guard ??= new EgressGuard();
      break;
    case "jobs":
      if (!config) {
        post({ type: "fatal", error: "the worker got jobs before its configuration" });
        return;
      }
      if (stopping) return;
      for (const job of message.jobs) start(job, config);
      break;
    case "stop":
      void stop();
      break;
  }
};
