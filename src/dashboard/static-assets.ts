import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard's own files (HTML, JS, CSS), beside the sources: the same URL works from
 * src/dashboard and from dist/dashboard, and package.json `files` ships the folder.
 */
export const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../../src/dashboard/public/', import.meta.url));

/** uPlot's browser build, served from the package: no CDN, no copy to keep in step. */
const UPLOT_FILES = ['uPlot.iife.min.js', 'uPlot.min.css'] as const;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** One file the dashboard serves, read once at start. */
export interface StaticAsset {
  body: Buffer;
  contentType: string;
}

/**
 * The allow-list of assets, by file name: every regular file directly in `publicDir` plus
 * uPlot's two files, read into memory at start. A name not in it is a 404, so no request path
 * can reach outside (`..`, encoded separators) and nothing is listed. A missing `publicDir`
 * gives only uPlot (the pages then answer 404 until the UI is installed).
 */
export function loadStaticAssets(publicDir: string = DEFAULT_PUBLIC_DIR): ReadonlyMap<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  const add = (name: string, path: string): void => {
    assets.set(name, {
      body: readFileSync(path),
      contentType: CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
    });
  };
  let names: string[] = [];
  try {
    names = readdirSync(publicDir);
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err;
  }
  for (const name of names) {
    const path = join(publicDir, name);
    if (statSync(path).isFile()) add(name, path);
  }
  const require = createRequire(import.meta.url);
  for (const name of UPLOT_FILES) add(name, require.resolve(`uplot/dist/${name}`));
  return assets;
}
