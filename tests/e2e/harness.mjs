// Shared set-up for the end-to-end tests: serve www/ on a free loopback port and drive
// Debian's Chromium through playwright-core (never a downloaded browser).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';

export const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Starts the server and a browser; `close()` stops both. */
export async function launch() {
  const { server, url } = await startServer({ port: 0 });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  return {
    url,
    browser,
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Opens the page in a new context and waits until the model is ready (#status[data-ready]). */
export async function openPage(browser, url, contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('#status[data-ready="true"]', { timeout: 30_000 });
  return { context, page, errors };
}

/** Draws strokes (lists of [x, y] in 0..1 of the pad) with the mouse, a few moves per await. */
export async function drawStrokes(page, strokes, selector = '#pad') {
  const box = await page.locator(selector).boundingBox();
  for (const stroke of strokes) {
    const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (let i = 1; i < stroke.length; i++) {
      // Interpolate so strokes are continuous even when points are far apart.
      const [x0, y0] = stroke[i - 1];
      const [x1, y1] = stroke[i];
      const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 40));
      const moves = [];
      for (let s = 1; s <= steps; s++) moves.push(page.mouse.move(...at([x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps])));
      await Promise.all(moves);
    }
    await page.mouse.up();
  }
}

/** Strokes that read as each digit on a square pad (coordinates in 0..1); the same as the
 * page's "Example" button (www/ui/draw-examples.js). Each reads correctly with the pretrained model. */
export const DIGIT_STROKES = {
  0: [[[0.5, 0.15], [0.32, 0.25], [0.27, 0.5], [0.32, 0.75], [0.5, 0.85], [0.68, 0.75], [0.73, 0.5], [0.68, 0.25], [0.5, 0.15]]],
  1: [[[0.5, 0.12], [0.5, 0.88]]],
  2: [[[0.3, 0.3], [0.38, 0.18], [0.52, 0.14], [0.66, 0.2], [0.7, 0.34], [0.62, 0.5], [0.3, 0.84], [0.74, 0.84]]],
  3: [[[0.3, 0.2], [0.48, 0.13], [0.66, 0.2], [0.66, 0.36], [0.48, 0.48], [0.68, 0.58], [0.7, 0.74], [0.54, 0.86], [0.3, 0.8]]],
  4: [[[0.36, 0.14], [0.3, 0.56], [0.74, 0.56]], [[0.62, 0.14], [0.62, 0.88]]],
  5: [[[0.7, 0.15], [0.36, 0.15], [0.33, 0.46], [0.52, 0.42], [0.68, 0.52], [0.7, 0.7], [0.56, 0.85], [0.32, 0.8]]],
  6: [[[0.64, 0.14], [0.44, 0.3], [0.33, 0.55], [0.36, 0.78], [0.52, 0.86], [0.66, 0.76], [0.66, 0.58], [0.5, 0.5], [0.36, 0.58]]],
  7: [[[0.28, 0.18], [0.72, 0.18], [0.45, 0.88]]],
  8: [[[0.64, 0.22], [0.5, 0.13], [0.36, 0.22], [0.38, 0.36], [0.62, 0.58], [0.64, 0.76], [0.5, 0.86], [0.36, 0.76], [0.38, 0.58], [0.62, 0.36], [0.64, 0.22]]],
  9: [[[0.66, 0.28], [0.52, 0.15], [0.36, 0.22], [0.34, 0.38], [0.5, 0.46], [0.66, 0.36], [0.66, 0.22], [0.64, 0.88]]],
};

export function screenshotPath(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
