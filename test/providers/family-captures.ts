/** Access to the captures of the newer families, kept in the project (test/fixtures/captures/<family>/INDEX.md). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

/** The bytes of one capture of a family (`cohere`, `ollama`). */
export function readFamilyCapture(family: string, name: string): Buffer {
  return readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'captures', family, name));
}
