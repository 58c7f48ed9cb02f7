/**
 * The built-in simulated LLM backend (DESIGN.md, `simulator/`): an OpenAI / Azure OpenAI
 * compatible server with the real wire formats, deterministic usage, optional pacing and
 * failures on demand. Used by the demo, the tests and the benchmarks.
 */
import { startSimulator, type Simulator, type SimulatorOptions } from './server.js';

export { startSimulator } from './server.js';
export type { Simulator, SimulatorOptions, SimulatorRequestRecord, SimulatorStats } from './server.js';
export { FAIL_HEADER, CUT_AFTER_STEPS, type FailureMode } from './failures.js';

/** Same as {@link startSimulator}: starts a simulator and resolves once it listens. */
export function createSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator(options);
}
export type { BedrockAuthOptions } from './bedrock-auth.js';
export type { BedrockFailureMode } from './bedrock-failures.js';
