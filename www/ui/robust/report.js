// The robustness report of the model in use: its accuracy on MNIST test digits that are made
// thicker, thinner, turned, resized, moved to a corner, low-resolution, blurred or put on dark
// paper, each drawn into the pad's 280 × 280 image and read through the page's preprocessing,
// and on optdigits, a second collection of other people's digits (src/robustness.rs). Computed
// in the training worker with progress, on the first N test digits of each digit.

import { addRobustStylesheet } from './style.js';

const SUBSETS = [[20, '20 per digit (quick)'], [100, '100 per digit'], [0, 'all 10,000']];
/** How far below clean accuracy a transformation may fall (the report's bar, in points). */
const BAR = 0.03;

const percent = (x) => `${(100 * x).toFixed(1)}%`;

export function mountRobustnessReport(root, hub, client) {
  addRobustStylesheet();
  const card = document.createElement('section');
  card.className = 'card robustness';
  card.id = 'robustness';
  card.innerHTML = `
    <h3>Robustness of the model in use</h3>
    <p class="muted">Test digits changed as other people's handwriting differs, drawn into the pad and read
      exactly as a drawing is; and optdigits, 8 × 8 digits by 43 other writers. Rows more than 3 points
      below clean are marked.</p>
    <div class="robustness-controls">
      <label>Test digits <select id="robustness-subset">${SUBSETS.map(([n, label]) => `<option value="${n}">${label}</option>`).join('')}</select></label>
      <button id="robustness-run" type="button" class="btn">Check robustness</button>
      <progress id="robustness-progress" max="1" value="0" hidden></progress>
      <span id="robustness-status" class="muted" role="status"></span>
    </div>
    <div class="robustness-scroll"><table id="robustness-table" hidden>
      <thead><tr><th scope="col">condition</th><th scope="col">accuracy</th><th scope="col">vs clean</th>
        ${Array.from({ length: 10 }, (_, d) => `<th scope="col">${d}</th>`).join('')}</tr></thead>
      <tbody></tbody>
    </table></div>`;
  root.append(card);
  const $ = (s) => card.querySelector(s);
  const table = $('#robustness-table');
  const progress = $('#robustness-progress');
  const status = $('#robustness-status');
  const button = $('#robustness-run');
  let running = null;

  function show(results) {
    const clean = results[0]?.accuracy;
    table.tBodies[0].replaceChildren(...results.filter((r) => r.count > 0).map((r) => {
      const row = document.createElement('tr');
      const drop = clean - r.accuracy;
      const isOther = r.name.startsWith('optdigits');
      row.dataset.name = r.name;
      row.dataset.accuracy = String(r.accuracy);
      row.classList.toggle('robustness-below', !isOther && r.name !== '8×8 source' && drop > BAR);
      const cells = [r.name, percent(r.accuracy), r === results[0] ? '' : `${(-100 * drop).toFixed(1)}`,
        ...r.perDigit.map(([right, of]) => (of ? `${Math.round((100 * right) / of)}` : '–'))];
      row.replaceChildren(...cells.map((text, i) => Object.assign(document.createElement(i ? 'td' : 'th'), { textContent: text, ...(i ? {} : { scope: 'row' }) })));
      return row;
    }));
    table.hidden = results.length === 0;
  }

  client.addEventListener('robustness-progress', ({ detail }) => {
    if (detail.id !== running) return;
    progress.max = detail.total;
    progress.value = detail.done;
    status.textContent = `${detail.done.toLocaleString('en-US')} of ${detail.total.toLocaleString('en-US')} readings`;
    show(detail.results);
  });

  button.addEventListener('click', async () => {
    if (!hub.recognizer || running) return;
    const perDigit = Number($('#robustness-subset').value);
    const request = client.robustness({ weights: hub.recognizer.toSafetensors(), perDigit, steps: hub.preprocessing ? JSON.parse(hub.preprocessing) : {} });
    running = request.id;
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    card.dataset.state = 'running';
    status.textContent = `checking ${hub.info?.label ?? 'the model in use'}…`;
    try {
      const results = await request.promise;
      show(results);
      const subset = perDigit ? `the first ${perDigit} test digits of each digit` : 'all 10,000 test digits';
      status.textContent = `${hub.info?.label ?? 'The model in use'} on ${subset} and ${perDigit ? `${perDigit} per digit of ` : ''}optdigits.`;
      card.dataset.state = 'done';
    } catch (error) {
      status.textContent = `Could not check: ${error.message}`;
      card.dataset.state = 'failed';
    } finally {
      running = null;
      button.disabled = false;
      progress.hidden = true;
    }
  });
  // A new model makes the table stale.
  hub.addEventListener('model', ({ detail }) => {
    if (detail.architectureChanged || card.dataset.state === 'done') {
      card.dataset.state = 'stale';
      status.textContent = 'The model changed: check again.';
    }
  });
}
