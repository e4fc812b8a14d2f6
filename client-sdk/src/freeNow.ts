/**
 * Frees a buffer's memory now instead of at the garbage collector's next turn; the caller
 * promises nobody reads the buffer again.
 *
 * Why: V8 counts a buffer's bytes outside its heap, so a stream of buffers that die young (a
 * download's chunks, a delta's decoded blocks) piles up tens of MiB before a collection frees
 * them, and on a device that pile is the peak.
 *
 * Only memory the buffer has to itself is freed: by default memory exactly as long as the
 * buffer (a socket's chunk copied out for JavaScript); with `ownedAtLeast`, also longer memory
 * of at least that many bytes that the buffer starts (zlib decodes into an output buffer of its
 * own, larger than what it holds). A buffer cut from a shared slab (Node's 8 KiB pool, a view
 * into a larger read) is left to the collector: detaching it would take its neighbours' bytes.
 */
export function freeNow(bytes: Buffer, ownedAtLeast = Infinity): void {
  const memory = bytes.buffer;
  if (!(memory instanceof ArrayBuffer) || bytes.byteOffset !== 0) return;
  if (memory.byteLength !== bytes.length && memory.byteLength < ownedAtLeast) return;
  try {
    memory.transfer(0);
  } catch {
    // Memory the runtime will not detach: the garbage collector frees it.
  }
}
