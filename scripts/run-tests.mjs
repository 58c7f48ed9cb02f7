// Runs every test file under test/ with node's test runner (node 20 has no --test glob support).
// Tests of the PostgreSQL ledger share one private server, started here unless
// TOKENMETER_TEST_PG_URL already names one; each test creates a database of its own on it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startPostgresServer } from './postgres-server.mjs';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : collect('test').sort();

let server;
if (process.env.TOKENMETER_TEST_PG_URL === undefined) {
  server = await startPostgresServer();
  process.env.TOKENMETER_TEST_PG_URL = server.url;
  console.log(`PostgreSQL for the tests: ${server.url}`);
}
let status = 1;
try {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', ...files],
    { stdio: 'inherit', env: process.env },
  );
  status = result.status ?? 1;
} finally {
  await server?.destroy();
}
process.exit(status);
