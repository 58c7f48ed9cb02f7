import { isJsonObject } from './json.js';

/**
 * The JSON text of a value `JSON.parse` produced, exactly as `JSON.stringify` writes it, at any
 * depth. A backend's answer can nest deeper than the call stack allows: V8's `JSON.parse` is
 * iterative, `JSON.stringify` recursive (some 10 000 levels throw a RangeError), so past that
 * the text is written with an explicit stack instead. Never throws for parsed JSON.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  return jsonTextWithoutRecursion(value);
}

/** An array or object being written: its members and how many were written. */
type Frame =
  | { kind: 'array'; items: readonly unknown[]; index: number }
  | { kind: 'object'; object: Record<string, unknown>; keys: string[]; index: number };

function jsonTextWithoutRecursion(root: unknown): string {
  const parts: string[] = [];
  const stack: Frame[] = [];
  let value: unknown = root;
  let pending = true;
  for (;;) {
    if (pending) {
      pending = false;
      if (Array.isArray(value)) {
        parts.push('[');
        stack.push({ kind: 'array', items: value, index: 0 });
      } else if (isJsonObject(value)) {
        parts.push('{');
        stack.push({ kind: 'object', object: value, keys: Object.keys(value), index: 0 });
      } else {
        // A string, number, boolean or null: JSON.stringify does not recurse on these.
        parts.push(JSON.stringify(value) ?? 'null');
      }
    }
    const frame = stack.at(-1);
    if (frame === undefined) return parts.join('');
    if (frame.kind === 'array') {
      if (frame.index < frame.items.length) {
        if (frame.index > 0) parts.push(',');
        value = frame.items[frame.index];
        frame.index += 1;
        pending = true;
      } else {
        parts.push(']');
        stack.pop();
      }
    } else if (frame.index < frame.keys.length) {
      const key = frame.keys[frame.index] ?? '';
      parts.push(`${frame.index > 0 ? ',' : ''}${JSON.stringify(key)}:`);
      value = frame.object[key];
      frame.index += 1;
      pending = true;
    } else {
      parts.push('}');
      stack.pop();
    }
  }
}
