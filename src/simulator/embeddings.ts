import { answerModel, positiveInt } from './common.js';
import { countInputTokens } from './text.js';
import { SimulatorHttpError, type Handler, type HandlerResult } from './types.js';

/** Vector length when the request sets no `dimensions` (text-embedding-3-small). */
const DEFAULT_DIMENSIONS = 1536;
const MAX_DIMENSIONS = 3072;

/**
 * POST embeddings, in the shape of openai-embeddings.json: one unit vector per input,
 * deterministic in the input text, as float arrays or (encoding_format "base64") little-endian
 * float32 bytes in base64, which is what the official SDKs ask for by default. Usage has
 * `prompt_tokens` and `total_tokens` only; there is no completion count.
 */
export const handleEmbeddings: Handler = (request): HandlerResult => {
  const { body } = request;
  const inputs = inputList(body.input);
  const model = answerModel(request);
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    throw new SimulatorHttpError(400, "Invalid 'encoding_format': expected 'float' or 'base64'.", {
      param: 'encoding_format',
    });
  }
  const dimensions = positiveInt(body, 'dimensions') ?? DEFAULT_DIMENSIONS;
  if (dimensions > MAX_DIMENSIONS) {
    throw new SimulatorHttpError(400, `Invalid 'dimensions': at most ${MAX_DIMENSIONS}.`, {
      param: 'dimensions',
    });
  }
  const promptTokens = countInputTokens(body.input);
  const data = inputs.map((input, index) => {
    const vector = embed(JSON.stringify(input), dimensions);
    const embedding =
      format === 'base64' ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
    return { object: 'embedding', index, embedding };
  });
  return {
    kind: 'json',
    usage: { promptTokens, completionTokens: 0 },
    body: { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } },
  };
};

/** The inputs of an `input` field (a batch of strings or token arrays, or one of them). */
function inputList(input: unknown): unknown[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((i) => typeof i === 'number')) return [input];
    if (input.every((i) => typeof i === 'string' || Array.isArray(i))) return input;
  }
  throw new SimulatorHttpError(
    400,
    "Invalid 'input': expected a string, an array of strings or token arrays.",
    {
      param: 'input',
    },
  );
}

/** A deterministic unit vector for a text: FNV-1a seed, then a linear congruential sequence. */
function embed(text: string, dimensions: number): Float32Array {
  let state = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) state = Math.imul(state ^ text.charCodeAt(i), 0x01000193) >>> 0;
  const vector = new Float32Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const value = state / 0x80000000 - 1;
    vector[i] = value;
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) * scale;
  return vector;
}
