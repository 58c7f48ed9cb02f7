import { statSync } from 'node:fs';
import { join } from 'node:path';

/** The file the commands read when no `--config` is given (DESIGN.md, "Commands"). */
export const DEFAULT_CONFIG_FILE = 'tokenmeter.yaml';

/** `<cwd>/tokenmeter.yaml` when that file exists, else undefined. */
export function findDefaultConfigPath(cwd: string = process.cwd()): string | undefined {
  const path = join(cwd, DEFAULT_CONFIG_FILE);
  try {
    return statSync(path).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}
