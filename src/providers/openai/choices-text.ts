import { field } from '../json.js';

/**
 * The generated text of chat / completions choices, for token estimation: the message's (or a
 * stream chunk's `delta`) `content` and tool-call argument pieces (output tokens too), and the
 * completions `text`. With n > 1 the choices' text is simply concatenated, which is all a token
 * count needs.
 * @param key `delta` for stream chunks, `message` for complete answers
 */
export function choicesText(choices: readonly unknown[], key: 'delta' | 'message'): string {
  let text = '';
  for (const choice of choices) {
    const message = field(choice, key);
    const content = field(message, 'content');
    if (typeof content === 'string') text += content;
    const toolCalls = field(message, 'tool_calls');
    if (Array.isArray(toolCalls)) {
      for (const call of toolCalls) {
        const args = field(field(call, 'function'), 'arguments');
        if (typeof args === 'string') text += args;
      }
    }
    const completion = field(choice, 'text');
    if (typeof completion === 'string') text += completion;
  }
  return text;
}
