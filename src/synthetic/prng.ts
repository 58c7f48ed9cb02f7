/**
 * A small seeded pseudo-random generator for synthetic traffic: the same seed gives the same
 * sequence on every machine and Node.js version (Math.random cannot be seeded). Not for secrets.
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** Standard normal (mean 0, deviation 1). */
  normal(): number;
  /** Log-normal with the given median and log-space deviation: heavy right tail, never negative. */
  logNormal(median: number, sigma: number): number;
  /** An index drawn with probability proportional to `weights[i]` (weights ≥ 0, sum > 0). */
  weighted(weights: readonly number[]): number;
}

/** The largest seed accepted (seeds are unsigned 32-bit integers). */
export const MAX_SEED = 0xffff_ffff;

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Chaotic generator, 128-bit state, passes PractRand),
 * its state spread from the seed by splitmix32 so that neighbouring seeds give unrelated streams.
 * Invariant: `seed` is an integer in [0, MAX_SEED].
 */
export function createPrng(seed: number): Prng {
  let mix = seed >>> 0;
  const splitmix32 = (): number => {
    mix = (mix + 0x9e3779b9) | 0;
    let z = mix;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = splitmix32();

  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Warm-up: the first outputs of a fresh sfc32 state are still correlated with the seed.
  for (let i = 0; i < 12; i++) next();

  const normal = (): number => {
    // Box-Muller; 1 - next() is in (0, 1], so the logarithm is finite.
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };

  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    normal,
    logNormal: (median, sigma) => median * Math.exp(sigma * normal()),
    weighted(weights) {
      let total = 0;
      for (const w of weights) total += w;
      let x = next() * total;
      for (let i = 0; i < weights.length; i++) {
        x -= weights[i] ?? 0;
        if (x < 0) return i;
      }
      return weights.length - 1;
    },
  };
}
