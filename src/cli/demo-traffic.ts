import { DEMO_TEAMS } from './demo-config.js';

/** One call the demo sends through the gateway. */
interface DemoCall {
  team: number;
  path: string;
  header: 'authorization' | 'api-key';
  body: Record<string, unknown>;
}

const QUESTIONS = [
  'Summarise our quarterly search relevance metrics.',
  'Draft a polite reply to a customer asking about a refund.',
  'Which SQL query finds the top ten products by revenue?',
  'Explain token metering to a finance team in two sentences.',
];

function chat(model: string, question: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: question }], ...extra };
}

/** The demo's traffic: three teams, OpenAI and Azure shapes, streamed and not. */
function demoCalls(): DemoCall[] {
  const q = (i: number): string => QUESTIONS[i % QUESTIONS.length] ?? '';
  const calls: DemoCall[] = [];
  for (let i = 0; i < 4; i++) {
    calls.push({
      team: 0,
      path: '/openai/v1/chat/completions',
      header: 'authorization',
      body: chat('gpt-4o-mini', q(i), { stream: i % 2 === 0 }),
    });
    calls.push({
      team: 0,
      path: '/openai/v1/embeddings',
      header: 'authorization',
      body: { model: 'text-embedding-3-small', input: q(i) },
    });
    calls.push({
      team: 1,
      path: '/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21',
      header: 'api-key',
      body: { messages: [{ role: 'user', content: q(i + 1) }], stream: i % 2 === 1 },
    });
    calls.push({
      team: 2,
      path: '/openai/v1/responses',
      header: 'authorization',
      body: { model: 'gpt-4.1', input: q(i + 2), stream: i % 2 === 0 },
    });
  }
  calls.push({
    team: 2,
    path: '/openai/v1/completions',
    header: 'authorization',
    body: { model: 'gpt-3.5-turbo-instruct', prompt: q(3) },
  });
  return calls;
}

/** Sends the demo traffic (a few at a time) and returns how many calls succeeded. */
export async function sendDemoTraffic(gatewayUrl: string): Promise<{ sent: number; ok: number }> {
  const calls = demoCalls();
  let ok = 0;
  const concurrency = 4;
  for (let start = 0; start < calls.length; start += concurrency) {
    const results = await Promise.all(
      calls.slice(start, start + concurrency).map(async (call) => {
        const key = DEMO_TEAMS[call.team]?.key ?? '';
        const response = await fetch(gatewayUrl + call.path, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [call.header]: call.header === 'authorization' ? `Bearer ${key}` : key,
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
