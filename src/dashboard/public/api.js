// api.js: the dashboard's only door to the server: JSON GETs on /api/*, with the session cookie.
// A 401 means the session ended: the browser goes back to /dashboard, which shows the sign-in form.

/** An error answer from the API, with the server's message and the parameter it names. */
export class ApiError extends Error {
  constructor(status, message, param) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.param = param;
  }
}

/**
 * GETs `path` with `params` (an array of [name, value] pairs, so that `where` can repeat) and
 * returns the parsed JSON. Throws ApiError on a 4xx/5xx answer.
 */
export async function getJson(path, params = []) {
  const search = new URLSearchParams();
  for (const [name, value] of params) search.append(name, value);
  const query = search.toString();
  const response = await fetch(query ? `${path}?${query}` : path, {
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
  });
  if (response.status === 401) {
    window.location.assign('/dashboard');
    throw new ApiError(401, 'Your session ended; please sign in again.');
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && typeof body === 'object' ? body.error : undefined;
    const message = error && typeof error.message === 'string' ? error.message : `HTTP ${response.status}`;
    throw new ApiError(response.status, message, error ? error.param : undefined);
  }
  return body;
}
