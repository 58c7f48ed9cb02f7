import { hash, timingSafeEqual } from 'node:crypto';

/**
 * The gateway's admin key (`admin.key`): it opens the admin API (`/admin/*`) and switches on
 * call tracing (`x-tokenmeter-trace`). Only its SHA-256 digest is kept; a candidate is hashed
 * and the two digests compared in constant time, so neither the comparison's timing nor a
 * length difference tells anything about the key.
 */
export interface AdminKey {
  /** False when no `admin.key` is configured: then nothing matches and `/admin/*` is closed. */
  readonly configured: boolean;
  /** Whether `candidate` is the admin key (never true when none is configured). */
  matches(candidate: string | undefined): boolean;
}

export function createAdminKey(key: string | undefined): AdminKey {
  const digest = key === undefined ? undefined : hash('sha256', key, 'buffer');
  return {
    configured: digest !== undefined,
    matches(candidate) {
      if (digest === undefined || candidate === undefined) return false;
      return timingSafeEqual(digest, hash('sha256', candidate, 'buffer'));
    },
  };
}
