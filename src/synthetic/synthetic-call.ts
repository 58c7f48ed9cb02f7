import type { UsageRecord } from '../ledger/record.js';
import type { TokenUsage, UsageSource } from '../usage.js';
import type { Prng } from './prng.js';
import type { SyntheticModel, SyntheticRoute } from './synthetic-models.js';
import type { SyntheticTeam } from './synthetic-teams.js';

/** A synthetic call before the gateway's last steps: its id and its price. */
export type SyntheticCall = Omit<UsageRecord, 'id' | 'cost'>;

/** Statuses other than 200 and their share of calls (rate limits first, as in real traffic). */
const ERROR_STATUSES: readonly { status: number; share: number }[] = [
  { status: 429, share: 0.012 },
  { status: 400, share: 0.005 },
  { status: 500, share: 0.003 },
  { status: 503, share: 0.002 },
];
/** Share of streamed chat calls. */
const STREAM_SHARE = 0.55;
/** Share of successful calls whose provider sent no usage (counted by the tokenizer). */
const ESTIMATED_SHARE = 0.012;
/** Share of successful streams cut short (client abort, upstream reset). */
const PARTIAL_SHARE = 0.015;
/** Share of calls whose body names a `user`. */
const USER_SHARE = 0.7;

const clamp = (value: number, min: number, max: number): number =>
  Math.max(min, Math.min(max, Math.round(value)));

/** What the call's dimensions are, from the team, the model and where it is served. */
export interface CallPlace {
  team: SyntheticTeam;
  model: SyntheticModel;
  gateway: string;
  location: string;
}

function pickRoute(model: SyntheticModel, prng: Prng): SyntheticRoute {
  // The first route takes most calls, the others share the rest.
  const routes = model.routes;
  if (routes.length === 1 || prng.chance(0.7)) return routes[0] as SyntheticRoute;
  return routes[prng.int(1, routes.length - 1)] as SyntheticRoute;
}

/**
 * Token counts as providers report them: prompts far longer than completions (log-normal, a
 * heavy tail of long contexts), OpenAI prompt caching in 128-token steps above 1,024 tokens,
 * Anthropic cache reads and writes, reasoning inside the completion for reasoning models.
 * Invariants: total = prompt + completion, cached + cache writes ≤ prompt, reasoning ≤ completion.
 */
export function drawUsage(model: SyntheticModel, prng: Prng): TokenUsage {
  if (model.embeddings === true) {
    const prompt = clamp(prng.logNormal(300, 1.1), 1, 8191);
    return { promptTokens: prompt, totalTokens: prompt };
  }
  const prompt = clamp(prng.logNormal(1100, 1.2), 8, 180_000);
  let completion = clamp(prng.logNormal(200, 0.9), 1, 16_000);
  const usage: TokenUsage = { promptTokens: prompt };
  if (model.reasoningShare !== undefined && prng.chance(model.reasoningShare)) {
    const reasoning = clamp(prng.logNormal(500, 1), 16, 30_000);
    completion += reasoning;
    usage.reasoningTokens = reasoning;
  }
  usage.completionTokens = completion;
  usage.totalTokens = prompt + completion;
  if (model.cacheWrites === true) {
    if (prompt >= 1024 && prng.chance(0.3))
      usage.cachedTokens = Math.floor(prompt * (0.4 + 0.5 * prng.next()));
    if (prompt >= 1024 && prng.chance(0.08))
      usage.cacheWriteTokens = Math.floor((prompt - (usage.cachedTokens ?? 0)) * (0.3 + 0.6 * prng.next()));
  } else if (prompt >= 1024 && prng.chance(0.35)) {
    usage.cachedTokens = Math.floor((prompt * (0.3 + 0.65 * prng.next())) / 128) * 128;
  }
  return usage;
}

/** The counts of a call the provider reported nothing for: the tokenizer's prompt and output. */
function estimatedUsage(usage: TokenUsage): TokenUsage {
  const prompt = usage.promptTokens ?? 0;
  const completion = (usage.completionTokens ?? 0) - (usage.reasoningTokens ?? 0);
  return usage.completionTokens === undefined
    ? { promptTokens: prompt, totalTokens: prompt }
    : { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion };
}

/** A stream cut short: the prompt as reported, part of the output. */
function partialUsage(usage: TokenUsage, prng: Prng): TokenUsage {
  const completion = Math.floor((usage.completionTokens ?? 0) * prng.next());
  const cut: TokenUsage = {
    ...usage,
    completionTokens: completion,
    totalTokens: (usage.promptTokens ?? 0) + completion,
  };
  if (usage.reasoningTokens !== undefined) cut.reasoningTokens = Math.min(usage.reasoningTokens, completion);
  return cut;
}

function drawStatus(prng: Prng): number {
  let x = prng.next();
  for (const { status, share } of ERROR_STATUSES) {
    if (x < share) return status;
    x -= share;
  }
  return 200;
}

/**
 * One synthetic call at `time` by a team to a model: dimensions as the gateway sets them, usage
 * as the provider would report it, `source` `estimated` or `partial` for a small share, a few
 * errors (no counts, as the gateway records a failed call), latency growing with the output.
 */
export function drawCall(time: number, place: CallPlace, prng: Prng): SyntheticCall {
  const { team, model } = place;
  const route = pickRoute(model, prng);
  const stream = model.embeddings !== true && prng.chance(STREAM_SHARE);
  const status = drawStatus(prng);
  const user = prng.chance(USER_SHARE) ? team.users[prng.int(0, team.users.length - 1)] : undefined;
  const ip = team.ips[prng.int(0, team.ips.length - 1)];
  let usage: TokenUsage = {};
  let source: UsageSource = 'reported';
  if (status === 200) {
    usage = drawUsage(model, prng);
    if (stream && prng.chance(PARTIAL_SHARE)) {
      usage = partialUsage(usage, prng);
      source = 'partial';
    } else if (prng.chance(ESTIMATED_SHARE)) {
      usage = estimatedUsage(usage);
      source = 'estimated';
    }
  }
  const output = usage.completionTokens ?? 0;
  const latencyMs =
    model.embeddings === true
      ? prng.logNormal(90, 0.5)
      : prng.logNormal(350, 0.5) + output * prng.logNormal(12, 0.3);
  const call: SyntheticCall = {
    time,
    api: route.api,
    operation: stream ? (route.streamOperation ?? route.operation) : route.operation,
    product: team.product,
    subscription: team.subscription,
    gateway: place.gateway,
    location: place.location,
    backend: route.backend,
    model: model.model,
    provider: route.provider,
    stream,
    ...usage,
    custom: {},
    source,
    status,
    latencyMs: Math.round(latencyMs * 1000) / 1000,
  };
  if (user !== undefined) call.user = user;
  if (ip !== undefined) call.ip = ip;
  if (status === 200) call.responseModel = model.responseModel;
  return call;
}
