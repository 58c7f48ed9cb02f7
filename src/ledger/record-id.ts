import { randomUUID } from 'node:crypto';

/** Creates record ids; each generator keeps its own ordering state. */
export type RecordIdGenerator = (now?: number) => string;

const hex = (value: number, digits: number): string =>
  value.toString(16).padStart(digits, '0').slice(-digits);

/**
 * UUIDv7 ids (RFC 9562 §5.7): 48 bits of Unix milliseconds, a 12-bit counter (method 1 of
 * §6.2: ids of one generator sort in creation order, even within a millisecond), then random
 * bits. Record ids sort by time, so the ledger's primary-key B-tree grows at its end instead of
 * taking random-page writes on every insert, and an id alone tells when a call happened.
 */
export function createRecordIdGenerator(): RecordIdGenerator {
  let lastMs = -1;
  let counter = 0;
  return (now = Date.now()) => {
    let ms = Math.max(0, Math.floor(now));
    if (ms <= lastMs) {
      // Same (or an earlier, clock-stepped) millisecond: count on from the last id.
      ms = lastMs;
      counter++;
      if (counter > 0xfff) {
        ms++;
        counter = 0;
      }
    } else {
      counter = 0;
    }
    lastMs = ms;
    const ts = hex(ms, 12);
    const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: keep its variant and random tail
    return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${hex(counter, 3)}${random.slice(18)}`;
  };
}
