import type { Ledger } from '../ledger/ledger.js';
import type { UsageRecord } from '../ledger/record.js';
import { createRecordIdGenerator } from '../ledger/record-id.js';
import type { CallPricer } from '../pricing/call-pricer.js';
import { createPrng } from './prng.js';
import { drawCall } from './synthetic-call.js';
import { SYNTHETIC_MODELS } from './synthetic-models.js';
import { createSyntheticTeams } from './synthetic-teams.js';
import { createTrafficClock } from './traffic-rhythm.js';

const DAY_MS = 86_400_000;

/**
 * Appends per event-loop turn: the ledger's group commit writes one turn's appends in one
 * transaction, so a few thousand per turn amortise the commit without holding much in memory.
 */
export const DEFAULT_GENERATE_BATCH = 4000;

/** What to generate, already validated (see the `ledger generate` command). */
export interface TrafficPlan {
  records: number;
  days: number;
  subscriptions: number;
  /** How many of SYNTHETIC_MODELS are in play (the first ones). */
  models: number;
  seed: number;
  /** The end of the range, epoch ms; records fall in [now - days, now). */
  now: number;
  /** The Gateway ID and Location dimensions (from the configuration). */
  gateway: string;
  location: string;
  /** Product ids teams are spread over (the configuration's, else one). */
  products: readonly string[];
}

/** Where generated records go and how they are priced: the gateway's own write path. */
export interface TrafficSink {
  ledger: Pick<Ledger, 'append'>;
  pricer: CallPricer;
  batchSize?: number;
  /** Called after each batch is committed with the number of records written so far. */
  onProgress?: (done: number) => void;
}

/**
 * Writes `plan.records` synthetic calls into a ledger, in time order, through `ledger.append`
 * (group-committed batches) and priced by the CallPricer exactly as the gateway prices a call:
 * backend, subscription, asked-for and answering model, time, usage. The content is a function
 * of the plan alone (the seed drives every draw); record ids are the gateway's UUIDv7, whose
 * random tail is not seeded, as no gateway id is. Resolves when every record is committed.
 */
export async function generateTraffic(plan: TrafficPlan, sink: TrafficSink): Promise<void> {
  const prng = createPrng(plan.seed);
  const models = SYNTHETIC_MODELS.slice(0, plan.models);
  const teams = createSyntheticTeams(
    plan.subscriptions,
    plan.products,
    models.map((m) => m.popularity),
    prng,
  );
  const teamWeights = teams.map((t) => t.weight);
  const clock = createTrafficClock(
    { since: plan.now - plan.days * DAY_MS, until: plan.now },
    plan.records,
    prng,
  );
  const nextId = createRecordIdGenerator();
  const batchSize = Math.max(1, sink.batchSize ?? DEFAULT_GENERATE_BATCH);
  const { ledger, pricer } = sink;

  for (let done = 0; done < plan.records;) {
    const size = Math.min(batchSize, plan.records - done);
    const appends: Promise<void>[] = new Array<Promise<void>>(size);
    for (let i = 0; i < size; i++) {
      const team = teams[prng.weighted(teamWeights)] ?? teams[0];
      if (team === undefined) throw new RangeError('no subscriptions to generate for');
      const model = models[prng.weighted(team.modelWeights)] ?? models[0];
      if (model === undefined) throw new RangeError('no models to generate for');
      const call = drawCall(
        clock.nextTime(),
        { team, model, gateway: plan.gateway, location: plan.location },
        prng,
      );
      const record: UsageRecord = { id: nextId(call.time), ...call };
      const cost = pricer.costOf({
        backend: call.backend,
        subscription: call.subscription,
        model: call.model,
        responseModel: call.responseModel,
        time: call.time,
        usage: call,
      });
      if (cost !== undefined) record.cost = cost;
      appends[i] = ledger.append(record);
    }
    await Promise.all(appends);
    done += size;
    sink.onProgress?.(done);
  }
}
