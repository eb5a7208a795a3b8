/**
 * The names of a dataset output: shards, sample keys and where the loose samples wait. Apart
 * from `dataset.ts` so that the engine can name samples without loading the Parquet packages.
 *
 * @module
 */

/** The directory of the loose samples, inside the output directory. */
export const SAMPLES_DIR = ".downpour-samples";

/** A shard's name: its number, five digits at least. */
export function shardName(shard: number): string {
  return String(shard).padStart(5, "0");
}

/** A row's key: its shard's name and its index in the shard, four digits. */
export function sampleKey(shard: number, index: number): string {
  return shardName(shard) + String(index).padStart(4, "0");
}

/** Where a sample's image is saved, relative to the output directory. */
export function samplePath(shard: number, index: number): string {
  return `${SAMPLES_DIR}/${shardName(shard)}/${sampleKey(shard, index)}`;
}
