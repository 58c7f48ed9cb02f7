import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then random bits. Record ids sort by
 * time, so the ledger's primary-key index grows at its end instead of taking random-page
 * writes on every insert, and an id alone tells roughly when a call happened.
 */
export function createRecordId(now: number = Date.now()): string {
  const uuid = randomUUID();
  const ts = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12);
  // xxxxxxxx-xxxx-4xxx-… → tttttttt-tttt-7xxx-… (the variant bits of the v4 uuid stay valid)
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${uuid.slice(15)}`;
}
