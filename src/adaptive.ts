/**
 * The run's target for downloads in flight across all hosts: it grows while more in flight
 * brings more completions a second, and comes back down when it stops helping. Plain arithmetic
 * on a clock given by the caller: no timers.
 *
 * @module
 */

/** Milliseconds between two decisions. */
export const INTERVAL = 500;
/** A rise of throughput counts when it is more than this fraction. */
const GAIN = 0.05;
/** A growth is by this fraction of the target. */
const GROW = 0.25;
/** A growth that brought no gain is undone by this fraction (1.25 × 0.8 = 1). */
const SHRINK = 0.2;
/** Steady intervals, held back by the target, after which one growth is tried anyway. */
const PROBE_AFTER = 4;

/** The bounds of an {@linkcode InflightTarget}. */
export interface TargetOptions {
  /** Where the target starts. */
  start: number;
  /** The least it goes down to. */
  min: number;
  /** The most it goes up to. */
  max: number;
  /** Milliseconds between decisions. Default {@linkcode INTERVAL}. */
  interval?: number;
}

/**
 * Every `interval` milliseconds, compares completions a second with the interval before. When
 * the target was what held requests back (tasks were ready but there was no room) and
 * throughput rose by more than 5 %, the target grows by a quarter; when a growth brought no
 * gain, it shrinks by a fifth. A target that held requests back for a few steady intervals is
 * probed upwards once, so that a run whose hosts change finds its level again.
 */
export class InflightTarget {
  #current: number;
  #min: number;
  #max: number;
  #interval: number;
  #since: number | undefined;
  #count = 0;
  #held = false;
  /** Completions a second in the interval before; undefined before the first. */
  #last: number | undefined;
  #grew = false;
  #steady = 0;

  /** @param options The bounds. */
  constructor(options: TargetOptions) {
    this.#min = Math.max(1, Math.floor(options.min));
    this.#max = Math.max(this.#min, Math.floor(options.max));
    this.#current = Math.min(this.#max, Math.max(this.#min, Math.floor(options.start)));
    this.#interval = options.interval ?? INTERVAL;
  }

  /** Downloads that may be in flight now. */
  get current(): number {
    return this.#current;
  }

  /**
   * Notes that tasks were ready and the target, not the workers nor the hosts, kept them back.
   *
   * @param now The clock, in milliseconds.
   */
  held(now: number): void {
    this.#held = true;
    this.tick(now);
  }

  /**
   * Counts finished downloads.
   *
   * @param now The clock, in milliseconds.
   * @param count How many finished.
   */
  completed(now: number, count = 1): void {
    this.#count += count;
    this.tick(now);
  }

  /**
   * Decides, when an interval is over.
   *
   * @param now The clock, in milliseconds.
   */
  tick(now: number): void {
    if (this.#since === undefined) {
      this.#since = now;
      return;
    }
    const elapsed = now - this.#since;
    if (elapsed < this.#interval) return;
    const rate = this.#count * 1000 / elapsed;
    const last = this.#last;
    const held = this.#held;
    this.#since = now;
    this.#count = 0;
    this.#held = false;
    this.#last = rate;
    if (last === undefined) {
      if (held) this.#grow();
      return;
    }
    const rose = rate > last * (1 + GAIN);
    if (this.#grew && !rose) {
      // More in flight brought nothing: back to about where it was.
      this.#grew = false;
      this.#steady = 0;
      this.#current = Math.max(this.#min, Math.floor(this.#current * (1 - SHRINK)));
      return;
    }
    this.#grew = false;
    if (!held) {
      this.#steady = 0;
      return;
    }
    if (rose || ++this.#steady >= PROBE_AFTER) this.#grow();
  }

  #grow(): void {
    this.#steady = 0;
    const next = Math.min(this.#max, Math.ceil(this.#current * (1 + GROW)));
    this.#grew = next > this.#current;
    this.#current = next;
  }
}
