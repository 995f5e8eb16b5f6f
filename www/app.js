// Wires the page: loads the wasm module (with progress), creates the shared Hub, puts the
// pretrained model in use, mounts the three areas (Draw, Train, Model) and the guided tour,
// shows how the training data loads, and saves the page for offline use (sw.js). Every
// failure ends up in the one error banner.
import init, * as wasm from './pkg/digitlens.js';
import { Hub } from './ui/hub.js';
import { fetchWithProgress } from './fetch-progress.js';
import { mountDrawPanel } from './ui/draw-panel.js';
import { mountTour } from './ui/tour.js';
import { mountClassroom } from './ui/classroom/classroom.js';
import { mountExplainPanel, EXPLAIN_WORKER_URL } from './ui/explain/panel.js';

const $ = (id) => document.getElementById(id);
const hub = new Hub(wasm);
/** What each mounted area offers the others (e.g. the tour): draw, train, lab, tour, classroom. */
const areas = {};
// For the console and the tests (`digitlens.draw` is the Draw area, as before `areas` existed;
// `digitlens.wasmMemory()` is added once the module has loaded).
window.digitlens = { hub, wasm, areas, get draw() { return areas.draw; } };

/** What the training worker (worker.js) loads besides the page's own files: sizes for the
 *  loading status, and names for the offline cache (the page's timeline does not list them). */
const WORKER_SCRIPT = new URL('./worker.js', import.meta.url).href;
/** The modules the training worker and its gradient workers (www/parallel/) import. */
const WORKER_MODULES = ['./wasm-errors.js', './fetch-progress.js', './parallel/pool.js', './parallel/gradient-worker.js'].map((f) => new URL(f, import.meta.url).href);
const TRAINING_DATA = [
  'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
].map((f) => new URL(`./data/${f}`, import.meta.url).href);

// ---- the error banner ---------------------------------------------------------------------
const banner = {
  root: $('error-banner'),
  message: $('error-message'),
  action: $('error-action'),
  more: $('error-more'),
  count: 0,
};

function showError(message, action = '') {
  banner.count = banner.root.hidden ? 1 : banner.count + 1;
  banner.message.textContent = message;
  banner.action.textContent = action;
  banner.more.textContent = banner.count > 1 ? `(${banner.count - 1} earlier message${banner.count > 2 ? 's' : ''} too)` : '';
  banner.root.hidden = false;
}

$('error-dismiss').addEventListener('click', () => {
  banner.root.hidden = true;
  banner.count = 0;
});
hub.addEventListener('error', (e) => showError(e.detail.message, e.detail.action));
window.addEventListener('error', (e) => {
  showError(`Something went wrong: ${e.message || 'an unknown error'}.`, 'Reload the page if something stops working.');
});
window.addEventListener('unhandledrejection', (e) => {
  const reason = e.reason;
  showError(`Something went wrong: ${(reason && reason.message) || reason || 'an unknown error'}.`, 'Reload the page if something stops working.');
});

// ---- the model badge and busy state ------------------------------------------------------------
const badge = $('model-badge');
function updateBadge() {
  if (!hub.info) return;
  badge.hidden = false;
  badge.textContent = `Model: ${hub.info.label || hub.info.source}${hub.busy ? ' · training…' : ''}`;
  badge.classList.toggle('is-busy', !!hub.busy);
}
hub.addEventListener('model', updateBadge);
hub.addEventListener('busy', updateBadge);

// ---- loading ---------------------------------------------------------------------------------
const status = $('status');
const statusText = $('status-text');
const progress = $('load-progress');

function mb(bytes) {
  return (bytes / 1e6).toFixed(1);
}

/** Mounts an area from a module that may not be there (yet); failures go to the banner.
 *  Returns what the mount function returns (undefined on failure). */
async function mountOptional(rootId, modulePath, exportName, areaName) {
  const root = $(rootId);
  try {
    const module = await import(modulePath);
    if (typeof module[exportName] !== 'function') throw new Error(`${modulePath} has no ${exportName}()`);
    root.replaceChildren();
    return await module[exportName](root, hub);
  } catch (e) {
    root.replaceChildren();
    const p = document.createElement('p');
    p.className = 'placeholder';
    p.textContent = `The ${areaName} area could not be loaded.`;
    root.append(p);
    showError(`The ${areaName} area could not be loaded: ${e.message || e}`, 'Reload the page; the drawing pad keeps working meanwhile.');
  }
}

/** Total size of files in bytes (HEAD requests), or 0 when a server does not say. */
async function totalSize(urls) {
  const sizes = await Promise.all(urls.map((url) => fetch(url, { method: 'HEAD' }).then(
    (r) => Number(r.headers.get('Content-Length')) || 0,
    () => 0,
  )));
  return sizes.reduce((a, b) => a + b, 0);
}

/** The training data loads in the worker while the pad is already in use: say so, with its size. */
async function followTrainingData() {
  const { sharedTrainerClient } = await import('./ui/trainer-client.js');
  let settled = false;
  const loaded = sharedTrainerClient().ready().then(() => true, () => false).finally(() => { settled = true; });
  const bytes = await totalSize(TRAINING_DATA);
  if (!settled) {
    progress.hidden = false;
    progress.removeAttribute('value');
    statusText.textContent = `Ready · training data${bytes ? ` ${mb(bytes)} MB` : ''}…`;
    statusText.title = 'Draw now; the data for training loads meanwhile';
  }
  // A failure is reported in the banner by the Train area (the worker's 'error' event).
  statusText.textContent = (await loaded) ? 'Ready' : 'Ready · no training';
  statusText.title = '';
  progress.hidden = true;
}

// ---- offline -----------------------------------------------------------------------------------
const offlineNote = $('offline-status');

/** Registers sw.js and has it cache every file the page and the training worker loaded. */
async function saveForOffline() {
  if (!('serviceWorker' in navigator)) {
    offlineNote.dataset.state = 'unsupported';
    offlineNote.textContent = 'This browser cannot keep the page for offline use.';
    return;
  }
  try {
    await navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { scope: './' });
    const registration = await navigator.serviceWorker.ready;
    const loaded = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => e.name);
    const urls = [location.href, ...loaded, WORKER_SCRIPT, ...WORKER_MODULES, EXPLAIN_WORKER_URL, ...TRAINING_DATA].filter((u) => new URL(u).origin === location.origin);
    const reply = await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = ({ data }) => resolve(data);
      registration.active.postMessage({ type: 'cache', urls }, [channel.port2]);
    });
    if (reply.error || reply.failed.length) throw new Error(reply.error || `not saved: ${reply.failed.join('; ')}`);
    offlineNote.dataset.state = 'ready';
    offlineNote.textContent = `Saved in this browser for offline use (${reply.files} files, ${mb(reply.bytes)} MB): it works without a network from now on.`;
  } catch (e) {
    offlineNote.dataset.state = 'error';
    offlineNote.textContent = 'Not available offline.';
    hub.error(`The page could not be saved for offline use: ${e.message || e}`, 'It keeps working while you are online; reload to try again.');
  }
}

/** Nothing will work without the network: say so wherever something was promised. */
function unavailable(what) {
  status.dataset.ready = 'error';
  status.removeAttribute('aria-busy');
  progress.hidden = true;
  statusText.textContent = `The ${what} could not load`;
  areas.draw.fail(`The ${what} could not load: see the message above.`);
  for (const id of ['train-root', 'model-root']) {
    const p = document.createElement('p');
    p.className = 'placeholder';
    p.textContent = `Not available: the ${what} could not load.`;
    $(id).replaceChildren(p);
  }
}

async function start() {
  // The drawing area appears at once; it starts reading digits when the model arrives.
  areas.draw = mountDrawPanel($('draw-root'), hub, { insideRoot: $('inside-root') });
  areas.explain = mountExplainPanel($('why-root'), hub, { draw: areas.draw, inputView: $('input-view'), padFrame: document.querySelector('.pad-frame') });

  const wasmUrl = new URL('./pkg/digitlens_bg.wasm', import.meta.url);
  let bytes;
  try {
    bytes = await fetchWithProgress(wasmUrl, (loaded, total) => {
      if (total) {
        progress.max = total;
        progress.value = loaded;
        statusText.textContent = `Loading the network… ${mb(loaded)} of ${mb(total)} MB`;
      } else {
        progress.removeAttribute('value');
        statusText.textContent = `Loading the network… ${mb(loaded)} MB`;
      }
    });
    statusText.textContent = `Starting the network (${mb(bytes.length)} MB)…`;
    progress.removeAttribute('value');
    const exports = await init({ module_or_path: bytes });
    // The main thread's wasm heap in bytes (it only grows): for leak checks in long sessions.
    window.digitlens.wasmMemory = () => exports.memory.buffer.byteLength;
  } catch (e) {
    unavailable('network');
    showError(
      `The neural network (WebAssembly, digitlens_bg.wasm) could not load: ${e.message || e}`,
      'Check your connection and reload the page. A browser from 2022 or later is needed.',
    );
    return;
  }

  // A lesson link's hidden parts and projector mode, before the pad takes strokes.
  await areas.classroom.early;
  try {
    hub.setModel(wasm.Recognizer.pretrained(), { source: 'pretrained', label: 'pretrained (model/)' });
  } catch (e) {
    unavailable('model');
    showError(`The pretrained weights could not be read: ${e.message || e}`, 'Reload the page; if it persists, the files on the server are damaged.');
    return;
  }
  status.dataset.ready = 'true';
  status.removeAttribute('aria-busy');
  statusText.textContent = 'Ready to draw';
  progress.hidden = true;

  [areas.train, areas.lab] = await Promise.all([
    mountOptional('train-root', './ui/train.js', 'mountTrainPanel', 'Train'),
    mountOptional('model-root', './ui/lab.js', 'mountLab', 'Model'),
  ]);
  try {
    const { mountInsight } = await import('./ui/insight/insight.js');
    areas.insight = mountInsight(hub, areas, { mapRoot: $('inside-root'), trainRoot: $('train-root') });
  } catch (e) {
    showError(`The channel cards and the map of all digits could not be loaded: ${e.message || e}`, 'The rest of the page keeps working.');
  }
  await areas.classroom.restoreLesson();
  await followTrainingData();
  // After the first load, so saving does not compete with it for the network.
  await saveForOffline();
}

areas.tour = mountTour({ hub, areas, helpSlot: $('topbar-actions'), inviteBefore: $('main') });
areas.classroom = mountClassroom({ hub, areas, slot: $('topbar-actions') });
start();
