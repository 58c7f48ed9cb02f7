/**
 * Most characters of generated text a stream keeps for estimation: 4 Mi characters (about a
 * million tokens). Text is only needed when the provider reports no usage; beyond this bound
 * an estimate counts the text kept, and the result says `truncated`.
 */
export const MAX_GENERATED_TEXT_CHARS = 4 * 1024 * 1024;

/** The generated text of one stream, in order, up to a maximum length. */
export interface GeneratedText {
  /** Appends text; what goes beyond the maximum is dropped. */
  add(text: string): void;
  /** Everything kept, in order. */
  text(): string;
  /** Whether text was dropped. */
  readonly truncated: boolean;
  /** Whether nothing more can be kept. */
  readonly full: boolean;
}

/** Creates an empty GeneratedText keeping at most `maxChars` characters. */
export function createGeneratedText(maxChars = MAX_GENERATED_TEXT_CHARS): GeneratedText {
  const parts: string[] = [];
  let length = 0;
  let truncated = false;
  return {
    add(text) {
      if (text === '') return;
      const room = maxChars - length;
      if (text.length > room) {
        truncated = true;
        if (room <= 0) return;
        text = text.slice(0, room);
      }
      parts.push(text);
      length += text.length;
    },
    text: () => parts.join(''),
    get truncated() {
      return truncated;
    },
    get full() {
      return length >= maxChars;
    },
  };
}
