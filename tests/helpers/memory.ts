/**
 * Resident memory (MB) outside the JS heap and outside ArrayBuffer contents: the memory native code
 * holds. Both subtracted terms swing by tens of MB with V8's heap sizing and with finalizers that run
 * late, which would hide or fake a native leak in plain RSS. V8 also returns the pages of a shrunk
 * heap from a background thread, some time after the collection, so for a while RSS still counts
 * pages that heapTotal no longer does: the figure is the least of a few samples over 200 ms, which a
 * real leak, being permanent, still shows in full.
 */
export function nativeResidentMb(): number {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let least = Infinity;
  for (let sample = 0; sample < 5; sample++) {
    if (sample > 0) Atomics.wait(pause, 0, 0, 50);
    const m = process.memoryUsage();
    least = Math.min(least, (m.rss - m.heapTotal - m.arrayBuffers) / 2 ** 20);
  }
  return least;
}
