import { DEMO_TEAMS } from './demo-config.js';

/** One call the demo sends through the gateway, with the key header its SDK would use. */
interface DemoCall {
  team: number;
  path: string;
  auth: 'bearer' | 'api-key' | 'x-api-key' | 'x-goog-api-key';
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const QUESTIONS = [
  'Summarise our quarterly search relevance metrics.',
  'Draft a polite reply to a customer asking about a refund.',
  'Which SQL query finds the top ten products by revenue?',
  'Explain token metering to a finance team in two sentences.',
];

const messages = (question: string): { role: string; content: string }[] => [
  { role: 'user', content: question },
];

/** A Bedrock model id as the AWS SDKs put it in the path: URL-encoded (`:` becomes %3A). */
const BEDROCK_MODEL = encodeURIComponent('anthropic.claude-3-5-haiku-20241022-v1:0');

/**
 * The demo's traffic, streamed and not: team-search on OpenAI (chat, embeddings, completions),
 * team-support on Azure OpenAI, Anthropic and Cohere, team-analytics on Gemini and the Responses
 * API, team-platform on AWS Bedrock (Converse, ConverseStream, InvokeModel), team-research on a
 * self-hosted Ollama (chat streamed as NDJSON, generate).
 */
function demoCalls(): DemoCall[] {
  const q = (i: number): string => QUESTIONS[i % QUESTIONS.length] ?? '';
  const calls: DemoCall[] = [];
  for (let i = 0; i < 4; i++) {
    const stream = i % 2 === 0;
    calls.push(
      {
        team: 0,
        path: '/openai/v1/chat/completions',
        auth: 'bearer',
        body: { model: 'gpt-4o-mini', messages: messages(q(i)), stream },
      },
      {
        team: 0,
        path: '/openai/v1/embeddings',
        auth: 'bearer',
        body: { model: 'text-embedding-3-small', input: q(i) },
      },
      {
        team: 1,
        path: '/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21',
        auth: 'api-key',
        body: { messages: messages(q(i + 1)), stream: !stream },
      },
      {
        team: 1,
        path: '/anthropic/v1/messages',
        auth: 'x-api-key',
        headers: { 'anthropic-version': '2023-06-01' },
        body: { model: 'claude-sonnet-4-5', max_tokens: 256, messages: messages(q(i + 1)), stream },
      },
      {
        team: 2,
        path: `/gemini/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
        auth: 'x-goog-api-key',
        body: { contents: [{ role: 'user', parts: [{ text: q(i + 2) }] }] },
      },
      {
        team: 2,
        path: '/openai/v1/responses',
        auth: 'bearer',
        body: { model: 'gpt-4.1', input: q(i + 2), stream: !stream },
      },
      {
        team: 3,
        path: `/bedrock/model/${BEDROCK_MODEL}/${stream ? 'converse-stream' : 'converse'}`,
        auth: 'bearer',
        body: { messages: [{ role: 'user', content: [{ text: q(i + 3) }] }] },
      },
      {
        team: 4,
        path: '/ollama/api/chat',
        auth: 'bearer',
        // Ollama streams unless told not to.
        body: { model: 'llama3.2', messages: messages(q(i)), ...(stream ? {} : { stream: false }) },
      },
    );
  }
  calls.push(
    {
      team: 0,
      path: '/openai/v1/completions',
      auth: 'bearer',
      body: { model: 'gpt-3.5-turbo-instruct', prompt: q(3) },
    },
    {
      team: 1,
      path: '/cohere/v2/chat',
      auth: 'bearer',
      body: { model: 'command-r-plus-08-2024', messages: messages(q(1)), stream: true },
    },
    {
      team: 3,
      path: `/bedrock/model/${BEDROCK_MODEL}/invoke`,
      auth: 'bearer',
      body: { anthropic_version: 'bedrock-2023-05-31', max_tokens: 256, messages: messages(q(2)) },
    },
    {
      team: 4,
      path: '/ollama/api/generate',
      auth: 'bearer',
      body: { model: 'llama3.2', prompt: q(0), stream: false },
    },
  );
  return calls;
}

function keyHeader(auth: DemoCall['auth'], key: string): Record<string, string> {
  return auth === 'bearer' ? { authorization: `Bearer ${key}` } : { [auth]: key };
}

/** Sends the demo traffic (a few calls at a time) and returns how many were answered with 2xx. */
export async function sendDemoTraffic(gatewayUrl: string): Promise<{ sent: number; ok: number }> {
  const calls = demoCalls();
  let ok = 0;
  const concurrency = 4;
  for (let start = 0; start < calls.length; start += concurrency) {
    const results = await Promise.all(
      calls.slice(start, start + concurrency).map(async (call) => {
        const response = await fetch(gatewayUrl + call.path, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...keyHeader(call.auth, DEMO_TEAMS[call.team]?.key ?? ''),
            ...call.headers,
          },
          body: JSON.stringify(call.body),
        });
        await response.arrayBuffer();
        return response.ok;
      }),
    );
    ok += results.filter(Boolean).length;
  }
  return { sent: calls.length, ok };
}
