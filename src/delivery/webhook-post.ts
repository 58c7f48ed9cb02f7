/** How long one delivery may take before it counts as failed (and is retried later). */
export const DELIVERY_TIMEOUT_MS = 10_000;

/**
 * POSTs `body` as JSON to `url`. Resolves once the receiver answered 2xx (its body read and
 * dropped); rejects on any other status, a network error or after DELIVERY_TIMEOUT_MS. Used by
 * budget alerts and report delivery, which record a delivery only when this resolves.
 */
export async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`webhook answered ${res.status}`);
}
