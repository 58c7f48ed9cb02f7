import { rmSync } from 'node:fs';
import type { Command } from 'commander';
import { formatRows } from '../reports/format.js';
import { DEMO_ADMIN_KEY, demoConfig, DEMO_TEAMS } from './demo-config.js';
import { sendDemoTraffic } from './demo-traffic.js';
import { parsePort, waitForSignal } from './serve-command.js';
import { startOrExplain } from './startup-failure.js';

const DEMO_LEDGER_FILE = 'tokenmeter-demo.db';

/**
 * `tokenmeter demo [--once] [--port 8080]`: gateway + simulated backend + traffic from three
 * teams on the embedded defaults; prints a usage table by subscription and the URLs.
 */
export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the gateway on a simulated backend, send traffic from 3 teams, print their usage')
    .option('--once', 'exit after printing the usage table')
    .option('--port <port>', 'gateway port', parsePort, 8080)
    .option('--ledger <url>', 'ledger to write', `sqlite:./${DEMO_LEDGER_FILE}`)
    .action(async (opts: { once?: boolean; port: number; ledger: string }) => {
      if (opts.ledger === `sqlite:./${DEMO_LEDGER_FILE}`) {
        // Each demo starts from an empty ledger so its table shows exactly this run.
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${DEMO_LEDGER_FILE}${suffix}`, { force: true });
      }
      const out = process.stdout;
      const config = demoConfig(opts.port, opts.ledger);
      const { createLogger, startGateway } = await import('../gateway/server.js'); // see serve-command.ts
      const gateway = await startOrExplain(() => startGateway(config, { logger: createLogger('warn') }), {
        host: config.gateway.host,
        port: opts.port,
      });
      out.write(`tokenmeter demo: gateway on ${gateway.url}, simulated backend "simulated-llm"\n`);
      out.write(`sending traffic from ${DEMO_TEAMS.map((t) => t.id).join(', ')} …\n`);
      const { sent, ok } = await sendDemoTraffic(gateway.url);
      out.write(`${ok}/${sent} calls answered\n\nUsage by subscription:\n`);
      const rows = await gateway.ledger.query({ by: ['subscription'], where: [] });
      out.write(`${formatRows(rows, ['subscription'], 'table')}\n\nUsage by API and operation:\n`);
      const byApi = await gateway.ledger.query({ by: ['api', 'operation'], where: [] });
      out.write(`${formatRows(byApi, ['api', 'operation'], 'table')}\n`);
      const base = gateway.url;
      out.write(`\nGateway:     ${base}\n`);
      out.write(`  OpenAI base URL ${base}/openai/v1    Azure OpenAI endpoint ${base}/azure\n`);
      out.write(`  Anthropic base URL ${base}/anthropic    Gemini base URL ${base}/gemini\n`);
      out.write(
        `  Bedrock endpoint ${base}/bedrock    Cohere base URL ${base}/cohere    Ollama host ${base}/ollama\n`,
      );
      out.write(`Dashboard:   ${gateway.url}/dashboard  (sign in with ${DEMO_ADMIN_KEY}, or a team's key)\n`);
      out.write(`Metrics:     ${gateway.url}/metrics\n`);
      out.write(
        `Ledger:      ${opts.ledger}  (query it: npx tokenmeter usage --ledger ${opts.ledger} --by subscription,model)\n`,
      );
      out.write(`Demo keys:   ${DEMO_TEAMS.map((t) => `${t.id}=${t.key}`).join('  ')}\n`);
      if (opts.once !== true) {
        out.write('\nThe gateway keeps running; press Ctrl-C to stop.\n');
        await waitForSignal();
      }
      await gateway.close();
    });
}
