import { request } from 'undici';

/** One server-sent event: its `event:` name (if any) and its `data:` text. */
export interface SseEvent {
  event?: string;
  data: string;
}

/** Splits a complete SSE body (LF framing, as the simulator writes it) into events. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    events.push(event === undefined ? { data: data.join('\n') } : { event, data: data.join('\n') });
  }
  return events;
}

/** A raw POST with a JSON body; resolves with status, headers and the whole body text. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Narrows a parsed JSON value to an object, failing the test otherwise. */
export function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('expected a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Parses SSE data frames as JSON objects (skipping `[DONE]`). */
export function jsonEvents(text: string): Record<string, unknown>[] {
  return parseSse(text)
    .filter((e) => e.data !== '[DONE]')
    .map((e) => asRecord(JSON.parse(e.data)));
}
