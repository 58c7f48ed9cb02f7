import { CliInputError } from '../cli/cli-error.js';
import type { ErrorCode } from '../errors.js';

/** One problem found in a configuration file, located as precisely as the YAML allows. */
export interface ConfigIssue {
  /** The file as the user named it. */
  file: string;
  /** 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read). */
  line: number;
  /** 1-based column; 0 when `line` is 0. */
  column: number;
  /** Dotted path of the offending key, e.g. `apis[1].backend`; '' for syntax errors. */
  path: string;
  /** What is wrong, in one line. */
  message: string;
}

/**
 * Formats an issue as `file:line:col path: message` (the shape editors and CI annotate), or
 * `file: message` when the issue has no position.
 */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const subject = issue.path === '' ? '' : ` ${issue.path}`;
  return `${where}${subject}: ${issue.message}`;
}

/**
 * A configuration that cannot be used. Carries every issue found, not only the first; `message`
 * is one formatted line per issue, so the CLI can print it as is and exit 2.
 */
export class ConfigError extends CliInputError {
  readonly code: ErrorCode = 'TM_CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatConfigIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** True for a {@link ConfigError}. */
export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
