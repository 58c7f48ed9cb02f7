import type { Prng } from './prng.js';

/** One synthetic subscription and who calls with it. */
export interface SyntheticTeam {
  /** team-01, team-02, … (zero-padded to the width of the count). */
  subscription: string;
  product: string;
  /** Share of all calls (the teams' weights sum to 1). */
  weight: number;
  /** Body `user` values its applications send. */
  users: readonly string[];
  /** Client addresses its calls come from. */
  ips: readonly string[];
  /** Relative preference for each of the models in play (same order). */
  modelWeights: readonly number[];
}

/**
 * Builds `count` teams with heavy-tailed sizes (Zipf-like, exponent 1.2, so a few teams carry
 * most of the traffic, as in a real organisation), ranked in a shuffled order so that team-01 is
 * not always the largest. Each team has 2–8 users, 1–4 client IPs, a product from `products`,
 * and its own taste in models: the models' popularity times a random factor, some models unused.
 */
export function createSyntheticTeams(
  count: number,
  products: readonly string[],
  modelPopularity: readonly number[],
  prng: Prng,
): SyntheticTeam[] {
  const width = Math.max(2, String(count).length);
  const ranks = Array.from({ length: count }, (_, i) => i + 1);
  for (let i = ranks.length - 1; i > 0; i--) {
    const j = prng.int(0, i);
    [ranks[i], ranks[j]] = [ranks[j] ?? 1, ranks[i] ?? 1];
  }
  const raw = ranks.map((rank) => 1 / rank ** 1.2);
  const sum = raw.reduce((a, b) => a + b, 0);
  return ranks.map((_, i) => {
    const n = String(i + 1).padStart(width, '0');
    const subscription = `team-${n}`;
    const users = Array.from({ length: prng.int(2, 8) }, (_, u) => `${subscription}-user-${u + 1}`);
    const ips = Array.from(
      { length: prng.int(1, 4) },
      () => `10.${prng.int(0, 255)}.${prng.int(0, 255)}.${prng.int(1, 254)}`,
    );
    const modelWeights = modelPopularity.map((p, m) =>
      // Each team uses the first model and most others; about one model in four it never calls.
      m > 0 && prng.chance(0.25) ? 0 : p * (0.2 + 1.8 * prng.next()),
    );
    return {
      subscription,
      product: products[prng.int(0, products.length - 1)] ?? 'standard',
      weight: (raw[i] ?? 0) / sum,
      users,
      ips,
      modelWeights,
    };
  });
}
