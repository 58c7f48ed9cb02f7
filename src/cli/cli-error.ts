/**
 * A bad command-line input or configuration: the CLI prints `message` as one line on stderr and
 * exits with status 2 (DESIGN.md: "Bad input … exits 2 with one clear line on stderr").
 */
export class CliInputError extends Error {
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = 'CliInputError';
  }
}

/**
 * The command ran but did not do all it was asked (e.g. a report delivery failed): the CLI prints
 * `message` as one line on stderr and exits with status 1. Details were written before it.
 */
export class CliFailure extends Error {
  readonly exitCode = 1;

  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}
