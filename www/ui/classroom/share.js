// The Share button (#share) and its panel: the lesson link of the page as it is now, in a
// read-only field (#share-link, its value) and on the clipboard, with the choices only a
// teacher preparing a link makes — which parts the class sees and a tour step to open at.
// Those choices are lesson state too ('hide', early: before the pad takes strokes; 'tour',
// last). Also the notice (#lesson-notice) saying what an opened link could not restore, and
// the chip that brings hidden parts back.
import { el } from '../lab-common.js';
import { STEPS } from '../tour.js';
import { registerState, collectState, encodeLesson } from './lesson-state.js';
import { AREAS } from './lesson-parts.js';

const PART_NAMES = { draw: 'Draw', inside: 'Look inside', train: 'Train', model: 'Model' };

/** Hides the page's areas named in `hidden` (and their links in the top bar); shows the others. */
function showParts(hidden) {
  for (const [key, id] of Object.entries(AREAS)) {
    document.getElementById(id).hidden = hidden.includes(key);
    const link = document.querySelector(`.area-nav a[href="#${id}"]`);
    if (link) link.hidden = hidden.includes(key);
  }
  document.body.classList.toggle('lesson-parts-hidden', hidden.length > 0);
}

const hiddenNow = () => Object.keys(AREAS).filter((key) => document.getElementById(AREAS[key]).hidden);

export function mountShare({ areas, slot }) {
  const button = el('button', { type: 'button', id: 'share', className: 'btn', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': 'share-panel', title: 'A link to this page as it is now: for a lesson' }, 'Share');
  slot.append(button);

  const linkField = el('input', { type: 'text', id: 'share-link', readOnly: true, className: 'share-link', 'aria-label': 'The lesson link', spellcheck: false });
  const copyButton = el('button', { type: 'button', className: 'btn btn-primary', id: 'share-copy' }, 'Copy');
  const copied = el('p', { className: 'share-copied muted', id: 'share-copied', role: 'status' });
  const partBoxes = Object.entries(PART_NAMES).map(([key, name]) =>
    el('label', { className: 'share-part' }, el('input', { type: 'checkbox', name: 'share-part', value: key, checked: true }), ` ${name}`));
  const tourSelect = el('select', { id: 'share-tour', name: 'share-tour' },
    el('option', { value: '' }, 'no tour'),
    STEPS.map((step, i) => el('option', { value: String(i + 1) }, `step ${i + 1}: ${step.title}`)));
  const closeButton = el('button', { type: 'button', className: 'btn btn-quiet btn-small share-close', 'aria-label': 'Close' }, '✕');
  const panel = el('section', { className: 'share-panel', id: 'share-panel', hidden: true, 'aria-labelledby': 'share-title' },
    closeButton,
    el('h2', { id: 'share-title', className: 'share-title' }, 'Lesson link'),
    el('p', { className: 'muted share-lede' },
      'Opens this page as it is now: the area in view, the model, the Train settings, the drawing, the maps, and projector mode if it is on. Weights trained here are named, not sent.'),
    el('div', { className: 'share-row' }, linkField, copyButton),
    copied,
    el('fieldset', { className: 'share-parts' }, el('legend', {}, 'The class sees'), partBoxes),
    el('label', { className: 'field share-tour-field' }, el('span', { className: 'field-label' }, 'Open the tour at'), tourSelect));
  document.body.append(panel);

  const chosenHidden = () => partBoxes.map((l) => l.firstChild).filter((box) => !box.checked).map((box) => box.value);
  registerState('hide', {
    early: true,
    get: () => {
      const hidden = panel.hidden ? hiddenNow() : chosenHidden();
      return hidden.length ? hidden : undefined;
    },
    set(hidden) {
      if (!Array.isArray(hidden)) throw new Error('the hidden parts are not a list');
      const unknown = hidden.filter((key) => !(key in AREAS));
      showParts(hidden.filter((key) => key in AREAS));
      if (unknown.length) throw new Error(`this page has no part ${unknown.join(', ')} to hide`);
    },
  });
  registerState('tour', {
    get: () => (tourSelect.value ? Number(tourSelect.value) : undefined),
    set(step) {
      if (!Number.isInteger(step) || step < 1 || step > STEPS.length) throw new Error(`the tour has no step ${step}`);
      if (!areas.tour) throw new Error('the tour is not on this page');
      areas.tour.open(step - 1);
    },
  });

  // Encoding is asynchronous (compression), so two quick changes can finish out of order: only
  // the latest request writes the link, and the field is busy until it has.
  let latest = 0;
  async function refresh() {
    const request = ++latest;
    linkField.setAttribute('aria-busy', 'true');
    try {
      const hash = await encodeLesson(collectState());
      if (request === latest) linkField.value = new URL(hash, location.href).href;
    } finally {
      if (request === latest) linkField.removeAttribute('aria-busy');
    }
    return linkField.value;
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(linkField.value);
      copied.textContent = `Copied: ${linkField.value.length} characters.`;
    } catch {
      // No clipboard (permission, an old browser): the link is selected for Ctrl+C.
      linkField.select();
      copied.textContent = 'Select the link and copy it (Ctrl+C).';
    }
  }

  function close() {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    button.focus();
  }

  button.addEventListener('click', async () => {
    if (panel.hidden) {
      for (const label of partBoxes) label.firstChild.checked = !hiddenNow().includes(label.firstChild.value);
      panel.hidden = false;
      button.setAttribute('aria-expanded', 'true');
    }
    await refresh();
    await copy();
    linkField.focus();
    linkField.select();
  });
  copyButton.addEventListener('click', copy);
  panel.addEventListener('change', async () => {
    await refresh();
    copied.textContent = 'The link changed: copy it again.';
  });
  closeButton.addEventListener('click', close);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
    // The drawing pad listens for Delete on the document; here it edits nothing.
    e.stopPropagation();
  });

  // ---- an opened link: the parts it hid, and what it could not restore ---------------------
  const showAll = el('button', { type: 'button', className: 'btn lesson-show-all', id: 'lesson-show-all' }, 'Show every part of the page');
  showAll.addEventListener('click', () => showParts([]));
  const noticeText = el('div', { className: 'lesson-notice-text' });
  const dismiss = el('button', { type: 'button', className: 'btn btn-small', 'aria-label': 'Dismiss this message' }, 'Dismiss');
  // Fixed over the page (not in its flow): a notice appearing must not move the pad.
  const notice = el('div', { className: 'lesson-notice', id: 'lesson-notice', role: 'alert', hidden: true }, noticeText, dismiss);
  dismiss.addEventListener('click', () => { notice.hidden = true; });
  document.body.append(showAll, notice);

  return {
    refresh,
    /** Says what an opened link could not restore ({key, reason} list); earlier reports stay. */
    report(failed, headline = 'This lesson link could not restore everything.') {
      if (!failed.length && notice.hidden) return;
      const items = failed.map(({ key, reason }) => el('li', { dataset: { key } }, el('strong', {}, `${key}: `), reason));
      const list = noticeText.querySelector('ul') ?? el('ul');
      list.append(...items);
      noticeText.replaceChildren(el('p', {}, el('strong', {}, headline)), list);
      notice.hidden = false;
    },
  };
}
