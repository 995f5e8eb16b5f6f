// The guided tour: a few short steps that follow the lecture the project grew from, each
// pointing at a live view of the page (the filters, the pool maps, the model editor's Flatten
// error, the receptive field, a channel card, the map of all digits, the training curves,
// early stopping). Numbers in the text come
// from the model in use.
//
// First visit: an invitation above the page (not a pop-up: nothing is covered until asked).
// "No thanks", finishing or closing the tour is remembered (localStorage), so it is not offered
// again; the Help button (#help) opens the tour at any time.
//
// The tour is a modal <dialog>: the rest of the page is inert, Tab stays inside, Esc closes,
// ← → change steps, and focus goes back to where it was. A spotlight (a hole in a dimmed
// overlay) follows its target while the page scrolls or changes.
//
// `areas` (from app.js) lets steps act on the page: areas.draw (draw-panel.js: hasInput,
// drawExample, pointAt), areas.lab (lab.js: editor.load), areas.insight (ui/insight/insight.js:
// openCard); all may be missing.

import { el, grouped } from './lab-common.js';

/** localStorage key: set once the tour was taken or declined. */
export const SEEN_KEY = 'digitlens.tour-seen';

// ---- what the steps say -----------------------------------------------------------------------

const square = (n) => `${n} × ${n}`;
const shape = ({ height, width }) => `${height} × ${width}`;

/** The numbers the tour quotes, from a model summary (Recognizer.summary()); a part is null
 *  when the model has no such layer. */
export function modelFacts(summary) {
  const layers = summary?.layers ?? [];
  const ofType = (type) => layers.filter((l) => l.spec?.type === type);
  const conv = ofType('conv2d')[0];
  const convIndex = layers.indexOf(conv);
  const pool = ofType('maxpool2d')[0];
  const flatten = ofType('flatten')[0];
  return {
    conv: conv ? { name: conv.name, filters: conv.spec.filters, kernel: conv.spec.kernel, input: conv.input, output: conv.output } : null,
    pool: pool
      ? { name: pool.name, size: pool.spec.size, input: pool.input, output: pool.output, after: layers[layers.indexOf(pool) - 1]?.name ?? 'the layer before' }
      : null,
    flatten: flatten ? { name: flatten.name, input: flatten.input, length: flatten.output } : null,
    // Receptive fields of the layers with maps, from the first convolution on.
    fields: convIndex < 0
      ? []
      : layers.slice(convIndex).filter((l) => l.receptive_field && typeof l.output === 'object')
        .map((l) => ({ name: l.name, size: l.receptive_field.size, output: l.output })),
  };
}

/** Facts of the model in use, with the parts it lacks (e.g. a dense model has no
 *  convolution) taken from `fallback` and marked `fromPreset`. */
export function mergeFacts(facts, fallback) {
  const merged = { ...facts };
  for (const key of ['conv', 'pool', 'flatten']) {
    if (!facts[key] && fallback[key]) merged[key] = { ...fallback[key], fromPreset: true };
  }
  if (!facts.fields.length && fallback.fields.length) merged.fields = fallback.fields.map((f) => ({ ...f, fromPreset: true }));
  return merged;
}

/** Index of the field the receptive-field step shows next. */
const nextField = (state, facts) => ((state.shown ?? -1) + 1) % facts.fields.length;

const FROM_PRESET = 'The model in use has no such layer: these numbers are from the cnn network.';

/** Listing for the receptive-field step: "conv1 3 × 3, pool1 4 × 4 and conv2 8 × 8". */
export function fieldList(fields) {
  const parts = fields.map((f) => `${f.name} ${square(f.size)}`);
  return parts.length < 2 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * The steps. Each: id, title, text(facts) → paragraphs, terms: [word, one-line meaning],
 * target(page) → element(s) to point at (null: none), optional enter(page) when shown and
 * action {label(state), run(page, state) → message} for a button that does the thing.
 * `page` = {areas, hub, find(...selectors)}; `state` is the step's own memory while open.
 */
export const STEPS = [
  {
    id: 'draw',
    title: 'Draw a digit',
    text: () => [
      'Draw any digit, 0 to 9, on the pad: with a mouse, a finger or a pen. The network reads it while you draw and shows its guess, with a bar for how likely it finds each digit.',
      'Every view on this tour follows the drawing. If the pad was empty we drew one for you: draw your own after the tour.',
    ],
    terms: [
      ['neural network', 'a chain of simple sums whose numbers (the weights) were learned from examples.'],
      ['MNIST', 'the classic set of 70,000 handwritten digits, 28 × 28 pixels each, that it learned from.'],
    ],
    target: ({ find }) => find('.draw-main', '#area-draw'),
    enter: ({ areas }) => {
      if (areas.draw && !areas.draw.hasInput()) areas.draw.drawExample();
    },
  },
  {
    id: 'convolution',
    title: 'Convolution: 3 × 3 filters',
    text: ({ conv }) => [
      `The first layer, ${conv.name}, has ${conv.filters} filters. A filter is a small ${square(conv.kernel)} grid of numbers. Convolution slides it over the ${shape(conv.input)} image: at every position it multiplies the ${conv.kernel ** 2} pixels under it by its ${conv.kernel ** 2} numbers and adds them up.`,
      `Each filter makes one map of ${shape(conv.output)}, bright where the image looks like the filter. These are the filters: red numbers count the pixel in, blue ones count it against.`,
      ...(conv.fromPreset ? [FROM_PRESET] : []),
    ],
    terms: [
      ['filter', 'a few numbers learned in training that respond to one small pattern, such as a stroke in one direction.'],
      ['map (channel)', 'the results of one filter at every position: one small square under “Look inside”.'],
      ['ReLU', 'turns every negative result into 0, so a map keeps only where its pattern was found.'],
    ],
    target: ({ find }) => find('.filters-section', '#area-inside'),
  },
  {
    id: 'pooling',
    title: 'Pooling: smaller maps, strongest responses kept',
    text: ({ pool }) => [
      `Max pooling cuts every map into ${square(pool.size)} blocks and keeps only the largest value of each. The ${shape(pool.input)} maps of ${pool.after} become ${shape(pool.output)}: far fewer numbers, yet wherever a filter responded strongly, that response survives.`,
      'The next layer works on a smaller picture that cares less about exactly where a stroke was.',
      ...(pool.fromPreset ? [FROM_PRESET] : []),
    ],
    terms: [['max pooling', 'keep the maximum of each small block, drop the rest; nothing is learned.']],
    target: ({ find, facts }) => find(`[data-layer="${facts.pool.name}"]`, '#area-inside'),
  },
  {
    id: 'flatten',
    title: 'Why Flatten comes before Dense',
    text: ({ flatten }) => {
      const { channels, height, width } = flatten.input;
      return [
        `After the last pooling the network holds ${channels} maps of ${height} × ${width}: a block of numbers with rows, columns and maps. A Dense layer connects every number it gets to each of its units, so it needs one flat list. Flatten lays the block out as one row of ${grouped(flatten.length)} numbers.`,
        'Remove Flatten in the model editor and read what it says.',
        ...(flatten.fromPreset ? [FROM_PRESET] : []),
      ];
    },
    terms: [
      ['Dense layer', 'every unit (one output number) looks at all inputs at once, each with its own weight.'],
      ['Flatten', 'no learning, only rearranging: a block of maps becomes one long list.'],
    ],
    target: ({ find }, state) => (state.removed ? find('.lab-layer.is-error', '.lab-editor', '#area-model') : find('.lab-editor', '#area-model')),
    action: {
      label: (state) => (state.removed ? 'Put Flatten back' : 'Remove Flatten in the editor'),
      run: ({ areas, hub }, state) => {
        const editor = areas.lab?.editor;
        if (!editor) throw new Error('the model editor is not on the page');
        const cnn = hub.wasm.presetArchitecture('cnn');
        if (state.removed) {
          editor.load(cnn);
          state.removed = false;
          return 'Flatten is back: the editor shows every shape again.';
        }
        const broken = { ...cnn, layers: cnn.layers.filter((l) => l.type !== 'flatten') };
        editor.load(broken, cnn.name);
        state.removed = true;
        const verdict = hub.wasm.analyzeArchitecture(JSON.stringify(broken));
        return verdict.ok ? 'The editor accepts this stack.' : `The editor now says: “${verdict.message}”.`;
      },
    },
  },
  {
    id: 'receptive-field',
    title: 'Deeper layers see more of the image',
    text: ({ fields }) => {
      const first = fields[0];
      const last = fields[fields.length - 1];
      return [
        `Each cell of a map depends on one patch of the input image only: its receptive field. A cell of ${first.name} sees ${square(first.size)} pixels; ${fields.length > 1 ? `further on: ${fieldList(fields.slice(1))} — a cell of ${last.name} sees ${Math.round((100 * last.size ** 2) / 784)} % of the image.` : ''}`,
        'So the first layer finds short strokes and edges, and deeper layers combine them into loops, corners and whole parts of digits. Point at any cell of any map to see its field as an orange square on the 28 × 28 image.',
        ...(first.fromPreset ? [FROM_PRESET] : []),
      ];
    },
    terms: [['receptive field', 'the patch of the input image that one cell of a map depends on.']],
    target: ({ find }) => find(['#input-view', '#receptive-field'], '#area-draw'),
    // Each press shows the next layer's field: conv1, pool1, conv2, … and round again.
    action: {
      label: (state, { facts }) => `Show what a cell of ${facts.fields[nextField(state, facts)].name} sees`,
      run: ({ areas, facts }, state) => {
        if (!areas.draw) throw new Error('the drawing area is not on the page');
        const field = facts.fields[nextField(state, facts)];
        if (field.fromPreset) throw new Error('the model in use has no maps to point at');
        const rf = areas.draw.pointAt(field.name);
        state.shown = facts.fields.indexOf(field);
        return `A cell in the middle of ${field.name} sees rows ${rf.rows}, columns ${rf.cols}: the orange square.`;
      },
    },
  },
  {
    id: 'why',
    title: 'Why this digit? Red and blue on your drawing',
    text: () => [
      'The network does not say why it chose its answer, but we can ask it: which pixels of your drawing, changed a little, would change its score the most? Red marks the strokes that pushed it towards its answer, blue the ones that pushed it away.',
      'Pick another digit to ask “why not that one?”, or a second digit to contrast: “why 7 rather than 1?”. Integrated gradients and occlusion are slower and more careful: they run when your stroke ends.',
    ],
    terms: [
      ['attribution map', 'one number per input pixel: how much that pixel counted for (red) or against (blue) a digit.'],
      ['gradient', 'how fast the score changes when a pixel gets a little darker.'],
    ],
    target: ({ find }) => find('#why-root', '#area-why'),
    enter: ({ areas }) => {
      if (areas.draw && !areas.draw.hasInput()) areas.draw.drawExample();
    },
    action: {
      label: () => 'Explain my drawing',
      run: ({ areas }) => {
        if (!areas.explain) throw new Error('the explanation area is not on the page');
        areas.explain.setMethod('gradient');
        const e = areas.explain.current();
        if (!e || e.digit === undefined) return 'Draw a digit on the pad first, then press again.';
        return `It reads ${e.digit}. ${e.sentence}`;
      },
    },
  },
  {
    id: 'channel-card',
    title: 'What one channel looks for',
    text: () => [
      'Click any map (or any dense1 bar) under “Look inside” and its card opens. It shows the 9 test digits that excite that channel most and the 9 it ignores, with the patch where it fired outlined in orange; how strongly it fires on average for each digit; and the image that excites it most, found by nudging a grey image again and again in the direction that makes the channel fire more (gradient ascent).',
      'Draw while the card is open: its red line shows where your drawing sits among the 10,000 test digits.',
    ],
    terms: [
      ['feature visualisation', 'the input that makes one unit fire most, found by gradient ascent.'],
      ['gradient ascent', 'change the image a little at a time in whatever direction raises the unit’s value.'],
    ],
    target: ({ find }) => find('#channel-card', '#area-inside'),
    enter: ({ areas }) => areas.insight?.openCard(),
  },
  {
    id: 'digit-map',
    title: 'The map of all digits',
    text: () => [
      'Each dot is a test digit, placed by the 128 values dense1 gives it, squeezed to two dimensions. Digits the network finds alike land together: the clusters are what it has learned. Your drawing is the black dot, and it moves as you draw.',
      'Train a network in the page and replay its epochs next to the curves: the clusters form as it learns. Click any dot to open that digit on the pad.',
    ],
    terms: [['principal components', 'the directions in which a set of numbers varies most; two of them make a flat map.']],
    target: ({ find }) => find('#digit-map-panel', '#area-inside'),
  },
  {
    id: 'curves',
    title: 'Training and validation curves',
    text: () => [
      'Training shows the network a batch of images, measures how wrong it was (the loss) and nudges every weight to be a little less wrong; then the next batch, epoch after epoch.',
      'The blue curve is measured on the training images, the orange one on validation images the network never learns from. If blue keeps falling while orange turns up, the network is memorising its training images instead of learning digits: it is overfitting.',
    ],
    terms: [
      ['loss', 'one number for how wrong the guesses are; lower is better.'],
      ['epoch', 'one pass over all the training images.'],
      ['validation images', 'images kept out of training, to check the network on something new.'],
      ['overfitting', 'learning the training images by heart: better on them, worse on new ones.'],
    ],
    target: ({ find }) => find('.train-charts', '#area-train'),
  },
  {
    id: 'early-stopping',
    title: 'Early stopping',
    text: () => [
      'Early stopping checks the validation loss after every epoch. When it has not improved for a few epochs in a row, training stops and the network goes back to its best epoch: no time wasted, and you keep the version that did best on images it had not seen.',
      'Press Train to try it. The pad keeps reading your digits with the network as it learns.',
    ],
    terms: [['patience', 'how many epochs without improvement to wait before stopping.']],
    target: ({ find }) => find(document.getElementById('train-early')?.closest('fieldset'), '#area-train'),
  },
];

// ---- where things go ---------------------------------------------------------------------------

/** Union of rectangles ({left, top, right, bottom}), or null for none. */
export function unionRect(rects) {
  const shown = rects.filter((r) => r && r.right > r.left && r.bottom > r.top);
  if (!shown.length) return null;
  return {
    left: Math.min(...shown.map((r) => r.left)),
    top: Math.min(...shown.map((r) => r.top)),
    right: Math.max(...shown.map((r) => r.right)),
    bottom: Math.max(...shown.map((r) => r.bottom)),
  };
}

/**
 * Where the tour's card goes: beside the target if it fits (right, left), else below or above
 * it, else at the bottom of the screen. Narrow screens always get the bottom (a sheet).
 * target: rect or null; card: {width, height}; view: {width, height}. Returns {left, top, side}.
 */
export function placeCard(target, card, view, { gap = 14, margin = 8, narrow = 640 } = {}) {
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  const bottom = { left: clamp((view.width - card.width) / 2, margin, view.width - card.width - margin), top: view.height - card.height - margin, side: 'bottom' };
  if (!target || view.width < narrow) return { ...bottom, top: Math.max(margin, bottom.top) };
  const besideTop = clamp(target.top, margin, view.height - card.height - margin);
  const alongLeft = clamp(target.left, margin, view.width - card.width - margin);
  const options = [
    { side: 'right', ok: target.right + gap + card.width <= view.width - margin, left: target.right + gap, top: besideTop },
    { side: 'left', ok: target.left - gap - card.width >= margin, left: target.left - gap - card.width, top: besideTop },
    { side: 'below', ok: target.bottom + gap + card.height <= view.height - margin, left: alongLeft, top: target.bottom + gap },
    { side: 'above', ok: target.top - gap - card.height >= margin, left: alongLeft, top: target.top - gap - card.height },
  ];
  const chosen = options.find((o) => o.ok);
  return chosen ? { left: chosen.left, top: chosen.top, side: chosen.side } : { ...bottom, top: Math.max(margin, bottom.top) };
}

// ---- the page --------------------------------------------------------------------------------

/** Height of the page's top bar where it sticks to the top of the screen (wide screens), else 0. */
function stickyTopbarHeight() {
  const bar = document.querySelector('.topbar');
  return bar && getComputedStyle(bar).position === 'sticky' ? bar.offsetHeight : 0;
}

function remembered() {
  try {
    return localStorage.getItem(SEEN_KEY) !== null;
  } catch {
    return false; // storage blocked: offer the tour; nothing else depends on it
  }
}

/**
 * Mounts the Help button (into `helpSlot`), the first-visit invitation (before `inviteBefore`)
 * and the tour dialog. Returns {open(stepIndex), close(), dialog, step}.
 */
export function mountTour({ hub, areas, helpSlot, inviteBefore }) {
  let index = 0;
  let states = [];
  let opener = null;
  let frame = 0;
  let lastTarget = null;
  /** The geometry drawn last (target rectangle, card size, viewport): redraw only on change. */
  let drawn = '';

  // --- the dialog --------------------------------------------------------------------------
  const dim = el('div', { className: 'tour-dim', 'aria-hidden': 'true' });
  const spot = el('div', { className: 'tour-spot', 'aria-hidden': 'true' });
  const count = el('p', { className: 'tour-count', id: 'tour-count' });
  const title = el('h2', { className: 'tour-title', id: 'tour-title' });
  const text = el('div', { className: 'tour-text', id: 'tour-text' });
  const terms = el('dl', { className: 'tour-terms' });
  const actionButton = el('button', { type: 'button', className: 'btn tour-action' });
  const actionResult = el('p', { className: 'tour-result', role: 'status' });
  const back = el('button', { type: 'button', className: 'btn', 'data-nav': 'back', textContent: 'Back' });
  const next = el('button', { type: 'button', className: 'btn btn-primary', 'data-nav': 'next', textContent: 'Next' });
  const skip = el('button', { type: 'button', className: 'btn btn-quiet', 'data-nav': 'skip', textContent: 'Skip the tour' });
  const closeButton = el('button', { type: 'button', className: 'tour-close', 'aria-label': 'Close the tour', textContent: '✕' });
  // The step scrolls (on a small screen); close and the step buttons always stay in view.
  const scroller = el('div', { className: 'tour-scroll', tabIndex: 0, role: 'group', 'aria-labelledby': 'tour-title' },
    el('div', { className: 'tour-body', 'aria-live': 'polite' }, count, title, text, terms),
    el('div', { className: 'tour-do' }, actionButton, actionResult));
  const card = el('div', { className: 'tour-card' },
    closeButton,
    scroller,
    el('div', { className: 'tour-nav' }, skip, el('span', { className: 'tour-nav-end' }, back, next)));
  const dialog = el('dialog', { className: 'tour', id: 'tour', 'aria-labelledby': 'tour-title', 'aria-describedby': 'tour-text' }, dim, spot, card);
  document.body.append(dialog);

  // --- the Help button and the invitation ----------------------------------------------------
  const help = el('button', { type: 'button', id: 'help', className: 'btn help-button', 'aria-haspopup': 'dialog', 'aria-controls': 'tour' },
    el('span', { className: 'help-icon', 'aria-hidden': 'true', textContent: '?' }), 'Help');
  helpSlot.append(help);

  const invite = el('aside', { className: 'tour-invite', id: 'tour-invite', 'aria-labelledby': 'tour-invite-title' },
    el('p', { className: 'tour-invite-text' },
      el('strong', { id: 'tour-invite-title', textContent: 'New here?' }),
      ' A two-minute tour of what you see: filters, pooling, Flatten, what deeper layers see, training curves and early stopping.'),
    el('span', { className: 'tour-invite-buttons' },
      el('button', { type: 'button', className: 'btn btn-primary', id: 'tour-start', textContent: 'Take the tour' }),
      el('button', { type: 'button', className: 'btn btn-quiet', id: 'tour-decline', textContent: 'No thanks' })));
  invite.hidden = remembered();
  inviteBefore.before(invite);

  // The steps quote the model in use: the tour opens once there is one.
  const startButtons = [help, invite.querySelector('#tour-start')];
  const enableStart = () => startButtons.forEach((b) => {
    b.disabled = !hub.recognizer;
    b.title = hub.recognizer ? 'A guided tour of the page' : 'Available once the network has loaded';
  });
  enableStart();
  hub.addEventListener('model', enableStart);

  function remember() {
    invite.hidden = true;
    try {
      localStorage.setItem(SEEN_KEY, new Date().toISOString());
    } catch (e) {
      hub.error(`The page could not note that you have seen the tour: ${e.message || e}.`, 'It will be offered again next time; nothing else is affected.');
    }
  }

  // --- showing a step ------------------------------------------------------------------------
  function find(...candidates) {
    for (const c of candidates) {
      const list = (Array.isArray(c) ? c : [c]).map((x) => (typeof x === 'string' ? document.querySelector(x) : x));
      const shown = list.filter((node) => node && node.getClientRects().length);
      if (shown.length) return shown;
    }
    return null;
  }

  function facts() {
    const preset = hub.wasm.analyzeArchitecture(JSON.stringify(hub.wasm.presetArchitecture('cnn')));
    const fallback = modelFacts(preset.summary);
    return hub.recognizer ? mergeFacts(modelFacts(hub.recognizer.summary()), fallback) : fallback;
  }

  function page() {
    const context = { areas, hub, find };
    context.facts = facts();
    return context;
  }

  function targetOf(step, context) {
    try {
      return step.target(context, states[index]) || null;
    } catch {
      return null; // a view that is not on the page: the step is still worth reading
    }
  }

  function render(scroll = true) {
    const step = STEPS[index];
    const state = states[index];
    const context = page();
    count.textContent = `Step ${index + 1} of ${STEPS.length}`;
    title.textContent = step.title;
    text.replaceChildren(...step.text(context.facts).map((p) => el('p', {}, p)));
    terms.replaceChildren(...step.terms.flatMap(([word, meaning]) => [el('dt', {}, word), el('dd', {}, meaning)]));
    actionButton.hidden = !step.action;
    if (step.action) actionButton.textContent = step.action.label(state, context);
    actionResult.textContent = state.result ?? '';
    back.disabled = index === 0;
    next.textContent = index === STEPS.length - 1 ? 'Finish' : 'Next';
    skip.hidden = index === STEPS.length - 1;
    lastTarget = targetOf(step, context);
    if (lastTarget) {
      // A new step brings its view to the middle when the card fits beside it, else to the top
      // (the card goes below it); an action's new target (the editor's error) just into view.
      const rect = unionRect(lastTarget.map((node) => node.getBoundingClientRect()));
      const beside = rect && rect.right - rect.left + card.offsetWidth + 44 <= document.documentElement.clientWidth;
      const tall = rect && rect.bottom - rect.top > window.innerHeight * 0.6;
      const block = !scroll ? 'nearest' : beside && !tall ? 'center' : 'start';
      lastTarget[0].scrollIntoView({ block, inline: 'nearest', behavior: 'instant' });
      // At the top, leave room for the ring and for the top bar where it stays on screen.
      if (block === 'start') window.scrollBy({ top: -(16 + stickyTopbarHeight()), behavior: 'instant' });
    }
    follow();
  }

  /** Puts the spotlight on the target and the card beside it (every frame while open). */
  function follow() {
    cancelAnimationFrame(frame);
    if (!dialog.open) return;
    frame = requestAnimationFrame(follow);
    const view = { width: document.documentElement.clientWidth, height: window.innerHeight };
    const rect = lastTarget ? unionRect(lastTarget.map((node) => node.getBoundingClientRect())) : null;
    const geometry = JSON.stringify([rect, card.offsetWidth, card.offsetHeight, view]);
    if (geometry === drawn) return;
    drawn = geometry;
    const pad = 6;
    spot.hidden = !rect;
    if (rect) {
      const left = Math.max(rect.left - pad, 3);
      const top = Math.max(rect.top - pad, 3);
      const right = Math.max(left, Math.min(rect.right + pad, view.width - 3));
      const bottom = Math.max(top, Math.min(rect.bottom + pad, view.height - 3));
      Object.assign(spot.style, { left: `${left}px`, top: `${top}px`, width: `${right - left}px`, height: `${bottom - top}px` });
      // The dimmed overlay with a hole where the target is (even-odd: the inner ring is cut out).
      dim.style.clipPath = `polygon(evenodd, 0 0, 100% 0, 100% 100%, 0 100%, 0 0, ${left}px ${top}px, ${right}px ${top}px, ${right}px ${bottom}px, ${left}px ${bottom}px, ${left}px ${top}px)`;
    } else {
      dim.style.clipPath = '';
    }
    // The part of the target on the screen (none: the user scrolled it away).
    const onScreen = rect && unionRect([{
      left: Math.max(rect.left, 0), top: Math.max(rect.top, 0),
      right: Math.min(rect.right, view.width), bottom: Math.min(rect.bottom, view.height),
    }]);
    const place = placeCard(onScreen, { width: card.offsetWidth, height: card.offsetHeight }, view);
    card.style.left = `${place.left}px`;
    card.style.top = `${place.top}px`;
    card.dataset.side = place.side;
  }

  function go(to) {
    if (to < 0 || to >= STEPS.length) return;
    index = to;
    const step = STEPS[index];
    try {
      step.enter?.(page(), states[index]);
    } catch (e) {
      hub.error(`The tour could not prepare this step: ${e.message || e}.`, 'Read on; the step still explains the view.');
    }
    render();
    scroller.scrollTop = 0;
    // Focus stays in the card, also when Back was pressed down to the first step (disabled).
    if (!card.contains(document.activeElement) || document.activeElement.disabled) next.focus();
  }

  function open(at = 0) {
    if (dialog.open) return go(at);
    opener = document.activeElement;
    states = STEPS.map(() => ({}));
    dialog.showModal();
    go(at);
  }

  function close() {
    if (!dialog.open) return;
    cancelAnimationFrame(frame);
    dialog.close();
    remember();
    // Back where the user was: the Help button when the invitation that opened it is gone.
    const target = opener && opener.isConnected && !opener.closest('[hidden]') ? opener : help;
    target.focus();
  }

  // --- events ----------------------------------------------------------------------------------
  actionButton.addEventListener('click', () => {
    const step = STEPS[index];
    const state = states[index];
    try {
      state.result = step.action.run(page(), state);
    } catch (e) {
      state.result = `Not possible here: ${e.message || e}.`;
      hub.error(`The tour could not do that: ${e.message || e}.`, 'Try it yourself in the area the step points at.');
    }
    render(false);
    actionButton.focus();
  });
  next.addEventListener('click', () => (index === STEPS.length - 1 ? close() : go(index + 1)));
  back.addEventListener('click', () => go(index - 1));
  skip.addEventListener('click', close);
  closeButton.addEventListener('click', close);
  // Esc: the dialog's own cancel, routed through close() so it is remembered and focus returns.
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    close();
  });
  dialog.addEventListener('keydown', (event) => {
    if (event.key === 'Tab') {
      // Keep Tab inside the card (the browser would otherwise move on to its own toolbar).
      const focusable = [...card.querySelectorAll('button, [tabindex="0"]')].filter((b) => !b.disabled && b.getClientRects().length);
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      event.preventDefault();
      go(index + (event.key === 'ArrowRight' ? 1 : -1));
    }
  });
  help.addEventListener('click', () => open(0));
  invite.querySelector('#tour-start').addEventListener('click', () => open(0));
  invite.querySelector('#tour-decline').addEventListener('click', () => {
    remember();
    help.focus();
  });

  return { open, close, dialog, /** The step shown (0-based). */ get step() { return index; } };
}
