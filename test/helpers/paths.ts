import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared provider captures (never copied into the project). */
export const CAPTURES_DIR = resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'captures');

/** The CLI entry, as users run it. */
export const CLI = resolve(REPO_ROOT, 'bin', 'tokenmeter.js');
