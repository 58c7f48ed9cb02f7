/** Access to the shared provider captures (never copied into the project: see INDEX.md there). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CAPTURES_DIR } from '../helpers/paths.js';

/** The bytes of one capture. */
export function readCapture(name: string): Buffer {
  return readFileSync(path.join(CAPTURES_DIR, name));
}

/** One capture parsed as JSON (for non-streamed bodies). */
export function readCaptureJson(name: string): unknown {
  return JSON.parse(readCapture(name).toString('utf8')) as unknown;
}
