import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';

// The example deployment cannot be run here (no Docker daemon): these tests check what can be
// checked without it, with the tools that judge each file.
const DEPLOY = join(REPO_ROOT, 'deploy');
const read = (path: string): string => readFileSync(join(DEPLOY, path), 'utf8');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  stop_signal?: string;
  stop_grace_period?: string;
  depends_on?: unknown;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const GATEWAYS = ['gateway-1', 'gateway-2'];

/** The example's secrets, as deploy/.env.example lists them. */
const exampleEnv = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

describe('deploy/docker-compose.yml', () => {
  it('names the services of the example: PostgreSQL, two gateways, nginx, Prometheus, Grafana', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'gateway-1',
      'gateway-2',
      'grafana',
      'nginx',
      'postgres',
      'prometheus',
    ]);
  });

  it('each gateway: built from deploy/Dockerfile, its own outbox volume, the shared config, PGPASSWORD from the environment', () => {
    const outboxes = new Set<string>();
    for (const name of GATEWAYS) {
      const service = compose.services[name];
      assert.ok(service !== undefined, name);
      assert.equal(service.build?.dockerfile, 'deploy/Dockerfile');
      assert.ok(existsSync(join(DEPLOY, service.build?.context ?? '', service.build?.dockerfile ?? '')));
      const volumes = service.volumes ?? [];
      assert.ok(volumes.includes('./gateway/tokenmeter.yaml:/etc/tokenmeter/tokenmeter.yaml:ro'), name);
      const outbox = volumes.find((v) => v.endsWith(':/var/lib/tokenmeter'))?.split(':')[0];
      assert.ok(outbox !== undefined && outbox in compose.volumes, `${name} has a named outbox volume`);
      outboxes.add(outbox);
      assert.match(service.environment?.PGPASSWORD ?? '', /^\$\{PGPASSWORD:\?/);
    }
    assert.equal(outboxes.size, GATEWAYS.length, 'no two gateways share an outbox');
  });

  it('gives each gateway longer to stop than its drain timeout, with SIGTERM', () => {
    const config = parse(read('gateway/tokenmeter.yaml')) as { gateway: { drainTimeoutMs: number } };
    for (const name of GATEWAYS) {
      const service = compose.services[name];
      assert.equal(service?.stop_signal, 'SIGTERM');
      const grace = parseDuration(service?.stop_grace_period ?? '') ?? 0;
      assert.ok(
        grace > config.gateway.drainTimeoutMs,
        `${name}: ${grace} ms > ${config.gateway.drainTimeoutMs} ms`,
      );
    }
  });

  it('PostgreSQL takes the same password; Grafana mounts the dashboard that exists', () => {
    assert.match(compose.services.postgres?.environment?.POSTGRES_PASSWORD ?? '', /^\$\{PGPASSWORD/);
    const mounts = (compose.services.grafana?.volumes ?? []).map((v) => v.split(':')[0] ?? '');
    for (const source of mounts.filter((m) => m.startsWith('./')))
      assert.ok(existsSync(join(DEPLOY, source)), `${source} exists`);
    assert.ok(mounts.includes('./grafana/tokenmeter-dashboard.json'));
  });

  it('every ${VAR:?…} the compose file requires is in .env.example', () => {
    const required = [...read('docker-compose.yml').matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]);
    for (const name of new Set(required)) assert.ok(name !== undefined && name in exampleEnv, `${name}`);
  });
});

describe('deploy/gateway/tokenmeter.yaml', () => {
  it('passes tokenmeter config check with the environment set, and names each missing variable without it', async () => {
    // The outbox lives on the container's volume (/var/lib/tokenmeter): config check judges the
    // directory where it runs, so the copy checked here points it at a temp directory instead.
    const dir = mkdtempSync(join(tmpdir(), 'tm-deploy-'));
    const path = join(dir, 'tokenmeter.yaml');
    writeFileSync(path, read('gateway/tokenmeter.yaml').replaceAll('/var/lib/tokenmeter/', `${dir}/`));
    const ok = await runCli(['config', 'check', '--config', path], { ...process.env, ...exampleEnv });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^config OK/);
    const env = { ...process.env };
    for (const name of Object.keys(exampleEnv)) delete env[name];
    const missing = await runCli(['config', 'check', '--config', path], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /ledger\.url: environment variable PGPASSWORD is not set/);
    assert.doesNotMatch(missing.stderr, /change-me/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses a postgres:// ledger with an outbox under the volume', () => {
    const config = parse(read('gateway/tokenmeter.yaml')) as { ledger: { url: string; outbox: string } };
    assert.match(config.ledger.url, /^postgres:\/\/tokenmeter:\$\{PGPASSWORD\}@postgres:5432\/tokenmeter$/);
    assert.ok(config.ledger.outbox.startsWith('/var/lib/tokenmeter/'));
  });
});

describe('deploy/prometheus and nginx', () => {
  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it(
    'promtool check config accepts prometheus.yml',
    { skip: promtool ? false : 'promtool is not installed' },
    () => {
      const run = spawnSync('promtool', ['check', 'config', join(DEPLOY, 'prometheus', 'prometheus.yml')], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stdout + run.stderr);
    },
  );

  it('Prometheus scrapes, and nginx balances, exactly the gateways of the compose file', () => {
    const prom = parse(read('prometheus/prometheus.yml')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    assert.deepEqual(
      targets.sort(),
      GATEWAYS.map((g) => `${g}:8080`),
    );
    const servers = [...read('nginx/nginx.conf').matchAll(/^\s*server\s+([\w.-]+:\d+)/gm)].map((m) => m[1]);
    assert.deepEqual(
      servers.sort(),
      GATEWAYS.map((g) => `${g}:8080`),
    );
  });
});

describe('deploy/Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const runtime = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')));

  it('runs node:20-slim, production dependencies only, as a non-root user', () => {
    assert.match(runtime[0] ?? '', /^FROM node:20-slim$/);
    assert.ok(lines.some((l) => /^RUN npm ci --omit=dev\b/.test(l)));
    const user = runtime.find((l) => l.startsWith('USER '));
    assert.ok(user !== undefined && !/^USER (root|0)\b/.test(user), String(user));
  });

  it('serves the mounted config, checks /readyz, stops with SIGTERM', () => {
    assert.ok(runtime.includes('STOPSIGNAL SIGTERM'));
    assert.ok(runtime.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('/readyz')));
    const entry = runtime.find((l) => l.startsWith('ENTRYPOINT '));
    const cmd = runtime.find((l) => l.startsWith('CMD '));
    assert.deepEqual(JSON.parse(entry?.slice('ENTRYPOINT '.length) ?? '[]'), [
      'node',
      '/app/bin/tokenmeter.js',
    ]);
    assert.deepEqual(JSON.parse(cmd?.slice('CMD '.length) ?? '[]'), [
      'serve',
      '--config',
      '/etc/tokenmeter/tokenmeter.yaml',
    ]);
  });

  it('copies only what exists in the repository, and the .dockerignore lets it through', () => {
    const ignore = read('Dockerfile.dockerignore');
    for (const line of lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const source of sources) {
        assert.ok(existsSync(join(REPO_ROOT, source)), `${source} exists`);
        const top = source.split('/')[0] ?? source;
        assert.ok(ignore.includes(`!${source}`) || ignore.includes(`!${top}/**`), `${source} is not ignored`);
      }
    }
  });
});
