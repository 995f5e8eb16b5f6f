// `./build.sh bench`, browser half: serves www/, runs www/bench.html in headless Chromium and
// prints one JSON line per measurement ({"target":"wasm","name",[workers,]value,"note"}), plus the
// module's size and the real page's load time. Numbers are printed, never judged.
// Run after a release build: node tests/e2e/bench.mjs
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { launch } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WASM = path.join(ROOT, 'www', 'pkg', 'digitlens_bg.wasm');
const WEIGHTS = path.join(ROOT, 'model', 'cnn.safetensors');
const TIMEOUT_MS = 15 * 60_000;

/** `extra`: more keys of the line, e.g. {method} for explain_ms. */
function print(name, value, note, extra = {}) {
  console.log(JSON.stringify({ target: 'wasm', name, ...extra, value: Math.round(value * 1000) / 1000, note }));
}

const gzipSize = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;

/** Module size with and without the embedded pretrained weights (found verbatim in the data section). */
function sizes() {
  const wasm = fs.readFileSync(WASM);
  print('wasm_bytes', wasm.length, 'www/pkg/digitlens_bg.wasm (release, wasm-opt off)');
  print('wasm_gzip_bytes', gzipSize(wasm), 'gzip -9 of the module');
  const weights = fs.readFileSync(WEIGHTS);
  const at = wasm.indexOf(weights);
  if (at < 0) {
    console.error(`note: ${path.relative(ROOT, WEIGHTS)} is not embedded verbatim in the module; no size without weights`);
    return;
  }
  const without = Buffer.concat([wasm.subarray(0, at), wasm.subarray(at + weights.length)]);
  print('wasm_bytes_without_weights', without.length, `the module minus the ${weights.length} embedded weight bytes`);
  print('wasm_gzip_bytes_without_weights', gzipSize(without), 'gzip -9 of the module minus the embedded weights');
}

/** The benchmark page: every row it reports. */
async function benchPage(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(new URL('bench.html', url).href);
  await page.waitForSelector('#bench-status:is([data-state="done"], [data-state="error"])', { timeout: TIMEOUT_MS });
  const state = await page.getAttribute('#bench-status', 'data-state');
  const status = await page.textContent('#bench-status');
  const results = await page.evaluate(() => window.benchResults);
  for (const { name, value, note, ...extra } of results) print(name, value, note, extra);
  await context.close();
  if (state !== 'done' || errors.length) throw new Error(`bench.html failed: ${[status, ...errors].join('; ')}`);
}

/** The real page: navigation start → #status[data-ready="true"] (pretrained model ready). */
async function appReady(browser, url) {
  if (!fs.existsSync(path.join(ROOT, 'www', 'index.html'))) {
    console.error('note: www/index.html does not exist yet; no app load time');
    return;
  }
  const context = await browser.newContext();
  await context.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('#status[data-ready="true"]')) {
        window.__readyAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, childList: true });
  });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('#status[data-ready="true"]', { timeout: 60_000 });
  print('app_ready_ms', await page.evaluate(() => window.__readyAt), 'navigation start → index.html shows the pretrained model ready');
  await context.close();
}

sizes();
const { url, browser, close } = await launch();
try {
  await appReady(browser, url);
  await benchPage(browser, url);
} finally {
  await close();
}
