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

/** Strokes that read as each digit (coordinates in 0..1): the page's own "Example" strokes,
 * each read correctly by the pretrained model. */
export { EXAMPLE_STROKES as DIGIT_STROKES } from '../../www/ui/draw-examples.js';

export function screenshotPath(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

// --- the Train area (#train-status is its stable hook) -------------------------------------

/** The end states of a run in #train-status[data-state]. */
export const ENDED = ['done', 'stopped', 'error'];

/** Opens the page wide enough to show the Train area beside the pad, ready to train. */
export async function openTrainPage(env) {
  const opened = await openPage(env.browser, env.url, { viewport: { width: 1280, height: 1000 } });
  await opened.page.waitForSelector('#train-start');
  return opened;
}

/** Fills the Train area's fields: {selector: value}; selects take their option value. */
export async function setFields(page, fields) {
  for (const [selector, value] of Object.entries(fields)) {
    if (await page.locator(selector).evaluate((e) => e.tagName === 'SELECT')) await page.selectOption(selector, String(value));
    else await page.fill(selector, String(value));
  }
}

/** #train-status's data attributes: state, epoch, valAccuracy, testAccuracy, … */
export const trainStatus = (page) => page.evaluate(() => ({ ...document.querySelector('#train-status').dataset }));

/** Waits until the run has ended (done, stopped or error); returns #train-status's data. */
export async function waitForEnd(page, timeout = 240_000) {
  await page.waitForFunction((ended) => ended.includes(document.querySelector('#train-status').dataset.state), ENDED, { timeout });
  return trainStatus(page);
}
