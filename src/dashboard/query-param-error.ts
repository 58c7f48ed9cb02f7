import { CliInputError } from '../cli/cli-error.js';
import { TokenmeterError, type ErrorCode } from '../errors.js';

/**
 * A bad query parameter of the query API: the gateway's JSON error shape plus `param`, the
 * parameter to fix (as OpenAI's errors name theirs), e.g.
 * `{"error":{"message":"…","type":"invalid_request_error","code":"TM_USAGE_ARGS","param":"since"}}`.
 */
export class QueryParamError extends TokenmeterError {
  readonly param: string;

  constructor(param: string, message: string, code: ErrorCode = 'TM_USAGE_ARGS') {
    super(code, message);
    this.name = 'QueryParamError';
    this.param = param;
  }

  override toJSON(): { error: { message: string; type: string; code: ErrorCode; param: string } } {
    return { error: { ...super.toJSON().error, param: this.param } };
  }
}

/**
 * Runs a check of one parameter: the shared checks' TM_USAGE_ARGS and the time parsers'
 * CliInputError become a QueryParamError naming `param`; command-line spellings (`--since`) in
 * their messages read as the parameter's name. Anything else passes through.
 */
export function atParam<T>(param: string, work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof QueryParamError) throw err;
    if (err instanceof CliInputError || (err instanceof TokenmeterError && err.code === 'TM_USAGE_ARGS'))
      throw new QueryParamError(param, err.message.replace(/--([a-z]+)/g, '$1'));
    throw err;
  }
}
