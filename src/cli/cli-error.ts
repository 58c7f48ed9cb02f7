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
