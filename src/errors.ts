/**
 * The one catalogue of error codes (STYLE.md). Every error a client or a CLI user can see has a
 * stable `code`; tests assert on the code, never on the message text.
 */
export const ERROR_CATALOGUE = {
  TM_UNAUTHORIZED: { status: 401, type: 'authentication_error' },
  TM_FORBIDDEN: { status: 403, type: 'permission_error' },
  TM_NOT_FOUND: { status: 404, type: 'not_found_error' },
  TM_METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error' },
  /** Too many failed sign-ins from one client address (dashboard): retry after Retry-After. */
  TM_RATE_LIMITED: { status: 429, type: 'rate_limit_error' },
  TM_BAD_JSON: { status: 400, type: 'invalid_request_error' },
  TM_BAD_REQUEST: { status: 400, type: 'invalid_request_error' },
  TM_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error' },
  TM_BAD_PATH: { status: 400, type: 'invalid_request_error' },
  TM_LEDGER_UNAVAILABLE: { status: 503, type: 'api_error' },
  TM_BUDGET_EXCEEDED: { status: 429, type: 'insufficient_quota' },
  /** An API's JWT could not be checked: its identity provider's keys (JWKS) cannot be fetched. */
  TM_AUTH_UNAVAILABLE: { status: 503, type: 'api_error' },
  TM_UPSTREAM_UNAVAILABLE: { status: 502, type: 'api_error' },
  TM_UPSTREAM_TIMEOUT: { status: 504, type: 'api_error' },
  TM_INTERNAL: { status: 500, type: 'api_error' },
  TM_CONFIG_INVALID: { status: 500, type: 'config_error' },
  TM_USAGE_ARGS: { status: 400, type: 'invalid_request_error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error with a stable code from the catalogue; `status` is the HTTP status it maps to. */
export class TokenmeterError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenmeterError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
  }

  /** The JSON body a client receives: the OpenAI error shape, which every SDK can display. */
  toJSON(): { error: { message: string; type: string; code: ErrorCode } } {
    return { error: { message: this.message, type: ERROR_CATALOGUE[this.code].type, code: this.code } };
  }
}

export function isTokenmeterError(err: unknown): err is TokenmeterError {
  return err instanceof TokenmeterError;
}
