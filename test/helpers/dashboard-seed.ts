import type { UsageRecord } from '../../src/ledger/record.js';

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
export const SUBSCRIPTIONS = ['team-a', 'team-b', 'team-c'];

/** Four days before today (UTC), so every record is inside the default "last 30 days". */
export const FIRST_DAY = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;

/**
 * 24 records: 3 subscriptions × 4 days × 2 hours (10:00 gpt-4o, 15:00 gpt-4o-mini), counts that
 * differ per subscription, day and hour; 3 estimated and 1 partial; costs that add up exactly.
 */
export function seedRecords(): UsageRecord[] {
  const records: UsageRecord[] = [];
  SUBSCRIPTIONS.forEach((subscription, s) => {
    for (let day = 0; day < 4; day++) {
      for (const hour of [10, 15]) {
        const prompt = 100 * (s + 1) + 10 * day + hour;
        const completion = 50 * (s + 1) + day;
        const estimated = (s === 2 && day === 0) || (s === 0 && day === 1 && hour === 10);
        const partial = s === 1 && day === 3 && hour === 15;
        records.push({
          id: `seed-${subscription}-${day}-${hour}`,
          time: FIRST_DAY + day * DAY + hour * HOUR + 60_000,
          api: 'openai',
          operation: 'chat.completions',
          subscription,
          model: hour === 10 ? 'gpt-4o' : 'gpt-4o-mini',
          stream: hour === 15,
          custom: { team: s === 0 ? 'blue' : 'red' },
          source: estimated ? 'estimated' : partial ? 'partial' : 'reported',
          status: 200,
          latencyMs: 100,
          promptTokens: prompt,
          completionTokens: completion,
          totalTokens: prompt + completion,
          cachedTokens: 20 * s,
          reasoningTokens: hour === 15 ? 7 : 0,
          cost: 0.25 * (s + 1),
        });
      }
    }
  });
  return records;
}

export type Metric = 'totalTokens' | 'promptTokens' | 'cost' | 'reasoningTokens';

/** The series the chart must show: per subscription, per bucket start (epoch s), non-zero sums. */
export function expectedSeries(
  records: readonly UsageRecord[],
  metric: Metric,
  bucket: number,
  keep: (r: UsageRecord) => boolean = () => true,
  group: (r: UsageRecord) => string = (r) => r.subscription!,
): Record<string, Record<number, number>> {
  const out: Record<string, Record<number, number>> = {};
  for (const record of records.filter(keep)) {
    const value = record[metric] ?? 0;
    if (value === 0) continue;
    const series = (out[group(record)] ??= {});
    const t = (Math.floor(record.time / bucket) * bucket) / 1000;
    series[t] = (series[t] ?? 0) + value;
  }
  return out;
}
