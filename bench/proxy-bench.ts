import { cpus } from 'node:os';
import { startServerProcess, type ServerProcess } from './children.js';
import { measureLargeAnswers } from './large-answer.js';
import { runLoad } from './load.js';
import { BENCH_KEY, FAST_COMPLETION_TOKENS, IDENTITY, PACED } from './protocol.js';
import {
  renderMarkdown,
  summarizeRounds,
  IDENTITY_TARGETS,
  TARGETS,
  type BenchReport,
  type RoundResults,
  type ScenarioResult,
  type TargetId,
} from './report.js';
import { measureTtfb } from './ttfb.js';

/**
 * Proxy overhead benchmark (DESIGN.md: "the gateway adds almost nothing"). In one run it
 * measures (a) the simulator directly, (b) a bare pass-through Node proxy and (c) tokenmeter,
 * each server in its own process, with autocannon for throughput/latency and a sequential
 * undici loop for streaming time-to-first-byte. Prints a markdown report on stdout; progress
 * goes to stderr.
 *
 *   node --import tsx bench/proxy-bench.ts [--quick]
 *   BENCH_SECONDS=10 (default 5; --quick: 1)   BENCH_ROUNDS=5 (default 3; --quick: 1)
 *   BENCH_TTFB_REQUESTS=500 (default 200; --quick: 50)
 *   BENCH_LARGE_MB=300 (default 200; --quick: 20; 0 skips the memory scenario)
 *   BENCH_LARGE_CALLS=5 (default 3; --quick: 1)   --memory-only: the memory scenario alone
 *
 * The memory scenario runs first, on fresh processes: large non-streamed JSON answers, one
 * after another, through (b) and (c), and each process's peak RSS over them (/proc VmHWM, reset
 * before the calls).
 *
 * Each scenario runs in rounds; in a round every target runs once, back to back, in an order
 * that alternates from round to round. A shared machine's speed drifts over minutes, so each
 * round's (c) ÷ (b) ratio compares two runs made seconds apart; the report gives the median
 * round and the range over rounds.
 */

const quick = process.argv.includes('--quick');
const seconds = quick ? 1 : positiveNumber(process.env.BENCH_SECONDS, 5);
const rounds = quick ? 1 : Math.round(positiveNumber(process.env.BENCH_ROUNDS, 3));
const ttfbCount = quick ? 50 : Math.round(positiveNumber(process.env.BENCH_TTFB_REQUESTS, 200));
const memoryOnly = process.argv.includes('--memory-only');
const largeMb =
  process.env.BENCH_LARGE_MB === '0' ? 0 : quick ? 20 : positiveNumber(process.env.BENCH_LARGE_MB, 200);
const largeCalls = quick ? 1 : Math.round(positiveNumber(process.env.BENCH_LARGE_CALLS, 3));

const headers = { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` };
const chat = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Write one short sentence about metering.' }],
};
const bodies = {
  json: JSON.stringify(chat),
  stream: JSON.stringify({ ...chat, stream: true }),
  // The client asks for usage itself: (b) and (c) then get the very same upstream stream, which
  // isolates the gateway's own cost from the extra usage chunk it otherwise asks the upstream for.
  streamWithUsage: JSON.stringify({ ...chat, stream: true, stream_options: { include_usage: true } }),
};

/** Scenarios marked `identity` also run (d), tokenmeter identifying its caller by a JWT. */
const SCENARIOS = [
  { name: 'chat, non-streaming, 1 connection', connections: 1, body: bodies.json, identity: true },
  { name: 'chat, non-streaming, 64 connections', connections: 64, body: bodies.json, identity: true },
  { name: 'chat, streaming, 16 connections', connections: 16, body: bodies.stream },
  {
    name: 'chat, streaming with include_usage, 16 connections',
    connections: 16,
    body: bodies.streamWithUsage,
  },
] as const;

function positiveNumber(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

async function main(): Promise<void> {
  const processes: ServerProcess[] = [];
  const notes: string[] = [];
  try {
    const upstream = await startServerProcess('upstream', [String(largeMb)]);
    processes.push(upstream);
    const upstreamArgs = [upstream.urls.fast ?? '', upstream.urls.paced ?? '', upstream.urls.large ?? ''];
    const bare = await startServerProcess('bare', upstreamArgs);
    processes.push(bare);
    const bases: Partial<Record<TargetId, { fast: string; paced: string; large?: string }>> = {
      upstream: { fast: `${upstream.urls.fast}/v1`, paced: `${upstream.urls.paced}/v1` },
      bare: { fast: `${bare.urls.fast}/v1`, paced: `${bare.urls.paced}/v1`, large: `${bare.urls.large}/v1` },
    };
    const pids: Partial<Record<TargetId, number>> = { bare: bare.pid };
    const headersOf: Partial<Record<TargetId, Record<string, string>>> = {};
    try {
      const gateway = await startServerProcess('gateway', upstreamArgs);
      processes.push(gateway);
      pids.tokenmeter = gateway.pid;
      bases.tokenmeter = {
        fast: `${gateway.urls.gateway}/openai/v1`,
        paced: `${gateway.urls.gateway}/paced/v1`,
        large: `${gateway.urls.gateway}/large/v1`,
      };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      progress(`tokenmeter skipped: the gateway could not be started (${reason})`);
      notes.push(`(c) tokenmeter was skipped: the gateway could not be started (${reason}).`);
    }
    if (!memoryOnly) {
      try {
        const identity = await startServerProcess('gateway-identity', [
          upstream.urls.fast ?? '',
          upstream.urls.jwks ?? '',
        ]);
        processes.push(identity);
        bases.identity = { fast: `${identity.urls.gateway}/openai/v1`, paced: '' };
        bases.bareIdentity = { fast: `${bare.urls.fast}/v1`, paced: '' };
        // The JWT in Authorization, the subscription key beside it, two headers custom dimensions read.
        headersOf.identity = {
          'content-type': 'application/json',
          authorization: `Bearer ${upstream.urls.token ?? ''}`,
          'api-key': BENCH_KEY,
          ...IDENTITY.headers,
        };
        headersOf.bareIdentity = headersOf.identity;
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        progress(`(d) skipped: the identity gateway could not be started (${reason})`);
        notes.push(`(d) tokenmeter with JWT was skipped: it could not be started (${reason}).`);
      }
    }
    const targets = TARGETS.filter((id) => bases[id] !== undefined);

    let memory: BenchReport['memory'];
    if (largeMb > 0) {
      memory = {
        title: `large non-streamed answers: ${largeCalls} × ${largeMb} MB, sequential`,
        results: {},
      };
      for (const id of targets) {
        const url = bases[id]?.large;
        const pid = pids[id];
        if (url === undefined || pid === undefined) continue;
        progress(`memory: ${largeCalls} answer(s) of ${largeMb} MB through ${id}`);
        const result = await measureLargeAnswers(`${url}/chat/completions`, pid, {
          calls: largeCalls,
          body: bodies.json,
          headers,
        });
        if (result === undefined) notes.push(`${id}: memory could not be read from /proc.`);
        else memory.results[id] = result;
      }
    }
    if (memoryOnly) {
      process.stdout.write(
        renderMarkdown({
          setup: [`memory scenario only: ${largeCalls} × ${largeMb} MB`],
          scenarios: [],
          ttfb: { title: '', results: {} },
          ...(memory !== undefined ? { memory } : {}),
          notes,
        }),
      );
      return;
    }

    for (const id of targets) {
      progress(`warming up ${id}`);
      await runLoad(`${bases[id]?.fast}/chat/completions`, {
        connections: 64,
        seconds: quick ? 0.5 : 2,
        body: bodies.json,
        headers: headersOf[id] ?? headers,
      });
    }

    const scenarios: ScenarioResult[] = [];
    for (const scenario of SCENARIOS) {
      const runs: RoundResults = [];
      for (let round = 0; round < rounds; round++) {
        const results: RoundResults[number] = {};
        const inScenario = targets.filter((id) => !IDENTITY_TARGETS.has(id) || 'identity' in scenario);
        const order = round % 2 === 0 ? inScenario : [...inScenario].reverse();
        for (const id of order) {
          progress(`${scenario.name}, round ${round + 1}/${rounds}: ${id} for ${seconds} s`);
          results[id] = await runLoad(`${bases[id]?.fast}/chat/completions`, {
            connections: scenario.connections,
            seconds,
            body: scenario.body,
            headers: headersOf[id] ?? headers,
          });
        }
        runs.push(results);
      }
      scenarios.push(summarizeRounds(scenario.name, runs));
    }

    const ttfb: BenchReport['ttfb'] = {
      title: `streaming TTFB, ${ttfbCount} sequential requests`,
      results: {},
    };
    for (const id of targets) {
      if (IDENTITY_TARGETS.has(id)) continue;
      progress(`time to first byte: ${id}, ${ttfbCount} requests`);
      ttfb.results[id] = await measureTtfb(`${bases[id]?.paced}/chat/completions`, {
        count: ttfbCount,
        warmup: 10,
        body: bodies.stream,
        headers,
      });
    }

    const report: BenchReport = {
      setup: [
        `node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? 'unknown'}); load generator, upstream, bare proxy and tokenmeter each in their own process`,
        `autocannon, keep-alive, ${rounds} round(s) of ${seconds} s per target and scenario (figures: the median round; ratio range over rounds); in "streaming" the client does not ask for usage (tokenmeter injects stream_options.include_usage and strips the usage chunk), in "streaming with include_usage" it does (both proxies relay the same stream)`,
        `upstream: tokenmeter simulator, ${FAST_COMPLETION_TOKENS} completion tokens, no pacing; TTFB upstream paced at ${PACED.tokensPerSecond} tokens/s (${PACED.completionTokens} tokens)`,
        'tokenmeter: subscription key auth, SQLite ledger (WAL), Prometheus metrics with 5 dimensions',
        "(d): as (c), in its own process, plus a JWT per call (RS256, Entra ID–shaped claims, JWKS fetched once and cached; user from `oid`) and 5 custom CEL dimensions (2 JWT claims, 2 headers, 1 subscription field; 10 labels); (b′): the bare proxy sent (d)'s request headers (the ~1.4 kB token and the subscription key), so (d) − (b′) leaves out what the larger request costs any proxy",
      ],
      scenarios,
      ttfb,
      ...(memory !== undefined ? { memory } : {}),
      notes,
    };
    for (const scenario of scenarios) {
      for (const id of targets) {
        const failed = scenario.results[id]?.failed ?? 0;
        if (failed === 0) continue;
        notes.push(`${id}: ${failed} failed requests in "${scenario.name}"; its numbers are not comparable.`);
      }
    }
    process.stdout.write(renderMarkdown(report));
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

await main();
