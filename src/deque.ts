/**
 * A double-ended queue on a ring buffer: push and shift, unshift, and taking many from the
 * front, each in constant time a task. The scheduler's line and each host's waiting tasks are
 * deques; arrays made `splice(0, n)` and `unshift` copy the whole line, once a request.
 *
 * @module
 */

/**
 * A first-in, first-out queue that also takes items back at its front.
 *
 * @example
 * ```ts
 * import { Deque } from "./deque.ts";
 * import assert from "node:assert/strict";
 *
 * const line = new Deque<number>();
 * line.push(2);
 * line.push(3);
 * line.unshift(1);
 * assert.equal(line.length, 3);
 * assert.deepEqual(line.take(2), [1, 2]);
 * assert.equal(line.shift(), 3);
 * assert.equal(line.shift(), undefined);
 * ```
 */
export class Deque<T> {
  #items: (T | undefined)[] = new Array(4);
  /** Where the front is; the buffer's length is a power of two. */
  #head = 0;
  #length = 0;

  /** Items in the queue. */
  get length(): number {
    return this.#length;
  }

  /**
   * Adds an item at the back.
   *
   * @param item The item.
   */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  /**
   * Adds an item at the front.
   *
   * @param item The item.
   */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
  }

  /**
   * Removes the item at the front.
   *
   * @returns The item, or `undefined` when the queue is empty.
   */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    return item;
  }

  /**
   * Removes up to `count` items from the front.
   *
   * @param count How many at most; all of them when omitted.
   * @returns The items, front first.
   */
  take(count = this.#length): T[] {
    const taken: T[] = [];
    for (let n = Math.min(Math.floor(count), this.#length); n > 0; n--) taken.push(this.shift()!);
    return taken;
  }

  #grow(): void {
    const old = this.#items;
    const items: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
