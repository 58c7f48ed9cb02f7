/**
 * Application Insights connection strings (`InstrumentationKey=…;IngestionEndpoint=https://…`),
 * parsed the way Microsoft's SDKs do: `;`-separated `key=value` pairs, keys case-insensitive;
 * the ingestion endpoint is `IngestionEndpoint`, else built from `EndpointSuffix` (and
 * `Location`), else the global default.
 */

/** Where telemetry goes when the connection string names no endpoint. */
export const DEFAULT_INGESTION_ENDPOINT = 'https://dc.services.visualstudio.com';

export interface AppInsightsTarget {
  instrumentationKey: string;
  /** The ingestion endpoint without a trailing "/" (telemetry is POSTed to `<it>/v2.1/track`). */
  ingestionEndpoint: string;
}

/**
 * Parses a connection string; a problem comes back as one sentence that never repeats the
 * string (it holds the instrumentation key).
 */
export function parseConnectionString(text: string): AppInsightsTarget | { error: string } {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0)
      return {
        error:
          'must be "Key=value" pairs separated by ";" (InstrumentationKey=…;IngestionEndpoint=https://…)',
      };
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const instrumentationKey = fields.get('instrumentationkey') ?? '';
  if (instrumentationKey === '') return { error: 'has no InstrumentationKey' };
  if (
    !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(instrumentationKey)
  )
    return { error: 'InstrumentationKey must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)' };
  const authorization = fields.get('authorization');
  if (authorization !== undefined && authorization.toLowerCase() !== 'ikey')
    return {
      error:
        'Authorization other than ikey (Microsoft Entra ID) is not supported; use a connection string with local authentication enabled',
    };
  let endpoint = fields.get('ingestionendpoint');
  if (endpoint === undefined || endpoint === '') {
    const suffix = fields.get('endpointsuffix');
    const location = fields.get('location');
    endpoint =
      suffix !== undefined && suffix !== ''
        ? `https://${location !== undefined && location !== '' ? `${location}.` : ''}dc.${suffix}`
        : DEFAULT_INGESTION_ENDPOINT;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { error: 'IngestionEndpoint must be an absolute http:// or https:// URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { error: `IngestionEndpoint must be an http:// or https:// URL, not ${url.protocol}` };
  if (url.search !== '' || url.hash !== '')
    return { error: 'IngestionEndpoint must not carry a query or fragment' };
  return { instrumentationKey, ingestionEndpoint: url.href.replace(/\/+$/, '') };
}

/** The schema's check: why a connection string cannot be used, or undefined. */
export function describeConnectionStringProblem(text: string): string | undefined {
  const parsed = parseConnectionString(text);
  return 'error' in parsed ? parsed.error : undefined;
}
