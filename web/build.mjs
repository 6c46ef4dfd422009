// Bundles src/ into dist/: index.html plus content-hashed assets, which the
// server embeds and serves with long cache lifetimes. ECharts and the ZIP
// writer load as separate chunks, so the first paint waits for neither.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as esbuild from 'esbuild';

// Built beside dist/ and swapped in at the end, so a cargo build running
// meanwhile never sees a half-written dist/.
const dist = new URL('./dist/', import.meta.url);
const staging = new URL('./dist.new/', import.meta.url);
await rm(staging, { recursive: true, force: true });
await mkdir(new URL('./assets/', staging), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: 'src/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: 'es2022',
  outdir: 'dist.new/assets',
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  minify: true,
  metafile: true,
  logLevel: 'warning',
});

let script;
let stylesheet;
const sizes = [];
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  sizes.push(`${basename(file)} ${(output.bytes / 1024).toFixed(0)} KiB`);
  if (output.entryPoint === 'src/main.ts') {
    script = basename(file);
    stylesheet = output.cssBundle && basename(output.cssBundle);
  }
}
if (!script || !stylesheet) throw new Error('the build produced no app script or stylesheet');

const template = await readFile(new URL('./index.html', import.meta.url), 'utf8');
const html = template
  .replace('<!-- stylesheet -->', `<link rel="stylesheet" href="/assets/${stylesheet}">`)
  .replace('<!-- script -->', `<script type="module" src="/assets/${script}"></script>`);
await writeFile(new URL('./index.html', staging), html);
await rm(dist, { recursive: true, force: true });
await rename(staging, dist);
console.log(`web/dist: index.html, ${sizes.sort().join(', ')}`);
