// Weights in and out: download the model in use as .safetensors (architecture in the metadata,
// the same format the CLI writes and reads), load one back (a failed load leaves the model in
// use untouched), and remember the last trained or loaded model across reloads (IndexedDB),
// with a way back to the pretrained weights.
import { el, grouped, inlineMessage, sentence } from './lab-common.js';
import { storage, MODELS } from './lab-store.js';

/** 20 M parameters (spec.rs MAX_PARAMS) × 4 bytes, plus room for the header. */
const MAX_FILE_BYTES = 96 * 1024 * 1024;
const SAVED_KEY = 'last';
const PRETRAINED_INFO = Object.freeze({ source: 'pretrained', label: 'pretrained (model/)' });
const REMEMBERED_SOURCES = ['trained', 'file'];

/** "digitlens-my-cnn.safetensors" for an architecture named "my-cnn". */
export function weightsFileName(architectureName) {
  const safe = String(architectureName || 'model').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return `digitlens-${safe || 'model'}.safetensors`;
}

function saveBytes(bytes, fileName) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const link = el('a', { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started once click() returns; the URL is only needed until then.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

const when = (time) => new Date(time).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function mountWeights(section, hub) {
  const downloadButton = el('button', { type: 'button', className: 'btn lab-download', textContent: 'Download the model in use' });
  const fileInput = el('input', { type: 'file', id: 'lab-weights-file', className: 'lab-file', accept: '.safetensors,application/octet-stream' });
  const message = el('p', { className: 'lab-message', role: 'status', hidden: true });
  const savedNote = el('p', { className: 'lab-saved-note', role: 'status' });
  const backButton = el('button', { type: 'button', className: 'btn btn-small lab-back', textContent: 'Back to pretrained' });
  const restoreButton = el('button', { type: 'button', className: 'btn btn-small lab-restore', textContent: 'Use my saved model' });
  const forgetButton = el('button', { type: 'button', className: 'btn btn-quiet btn-small lab-forget', textContent: 'Forget the saved model' });
  section.append(
    el('h3', {}, 'Save and load weights'),
    el('p', { className: 'muted lab-lede' },
      'A .safetensors file holds the weights and, in its metadata, the architecture. The command line reads the same files: ',
      el('code', {}, 'digitlens eval --weights file.safetensors'), '.'),
    el('div', { className: 'lab-row' },
      downloadButton,
      fileInput,
      el('label', { className: 'btn lab-file-label', htmlFor: 'lab-weights-file' }, 'Load a .safetensors file…')),
    message,
    el('div', { className: 'lab-saved card' }, savedNote, el('div', { className: 'lab-row' }, backButton, restoreButton, forgetButton)),
  );

  /** The saved record, or null; undefined until IndexedDB has answered. */
  let saved;

  function describeSaved() {
    const source = hub.info?.source;
    const label = saved ? `“${saved.info.label}” (${when(saved.savedAt)})` : '';
    if (saved === undefined) savedNote.textContent = 'Looking for a model saved in this browser…';
    else if (source === 'saved') savedNote.textContent = `Restored the model you last trained or loaded: ${label}.`;
    else if (REMEMBERED_SOURCES.includes(source)) savedNote.textContent = `The model in use is kept in this browser for your next visit.`;
    else if (saved) savedNote.textContent = `The model you last trained or loaded, ${label}, is kept in this browser.`;
    else savedNote.textContent = 'Models you train or load are kept in this browser (only here) for your next visit.';
    const busy = !!hub.busy;
    backButton.hidden = !source || source === 'pretrained';
    restoreButton.hidden = !saved || source === 'saved' || REMEMBERED_SOURCES.includes(source);
    forgetButton.hidden = !saved;
    backButton.disabled = restoreButton.disabled = fileInput.disabled = busy;
    section.querySelector('.lab-file-label').classList.toggle('is-disabled', busy);
    section.dataset.source = source ?? '';
  }

  function storageFailed(what, error) {
    hub.error(`${what}: ${error.message}`, 'The model in use is not affected; download it to keep it.');
  }

  async function remember(recognizer, info) {
    const record = { bytes: recognizer.toSafetensors(), info: { ...info }, savedAt: Date.now(), active: true };
    try {
      await storage.put(MODELS, record, SAVED_KEY);
      saved = record;
    } catch (error) {
      storageFailed('The trained model could not be kept in this browser for your next visit', error);
    }
    describeSaved();
  }

  function restore(record) {
    let recognizer;
    try {
      recognizer = hub.wasm.Recognizer.fromSafetensors(record.bytes);
    } catch (error) {
      hub.error(`Your saved model could not be restored: ${error.message}`, 'The pretrained model stays in use; train or load another.');
      storage.delete(MODELS, SAVED_KEY).catch(() => {});
      saved = null;
      describeSaved();
      return;
    }
    hub.setModel(recognizer, { ...record.info, source: 'saved', label: `${record.info.label} (restored)` });
  }

  async function setActive(active) {
    if (!saved) return;
    saved = { ...saved, active };
    try {
      await storage.put(MODELS, saved, SAVED_KEY);
    } catch (error) {
      storageFailed('This choice could not be kept for your next visit', error);
    }
  }

  downloadButton.addEventListener('click', () => {
    if (!hub.recognizer) return;
    try {
      saveBytes(hub.recognizer.toSafetensors(), weightsFileName(hub.recognizer.architecture().name));
    } catch (error) {
      hub.error(`The model could not be saved: ${error.message}`, 'Try again, or reload the page');
    }
  });

  async function loadFile(file) {
    inlineMessage(message, '');
    const fail = (reason) => {
      const text = `“${file.name}” was not loaded: ${sentence(reason.replace(/^cannot load weights: /, ''))}`;
      inlineMessage(message, `${text} The model in use is unchanged.`, 'error');
      hub.error(text, 'The model in use is unchanged. Choose a .safetensors file saved by digitlens (this page or the CLI).');
    };
    if (file.size > MAX_FILE_BYTES) {
      fail(`it is ${grouped(file.size / 1024 / 1024)} MB, larger than any model digitlens can train`);
      return;
    }
    let recognizer;
    try {
      recognizer = hub.wasm.Recognizer.fromSafetensors(new Uint8Array(await file.arrayBuffer()));
    } catch (error) {
      fail(error.message);
      return;
    }
    const architecture = recognizer.architecture();
    hub.setModel(recognizer, { source: 'file', label: file.name });
    inlineMessage(message, `Loaded “${file.name}” (architecture “${architecture.name}”, ${architecture.layers.length} layers): it is the model in use now.`, 'ok');
  }

  fileInput.addEventListener('change', () => {
    const [file] = fileInput.files;
    fileInput.value = ''; // choosing the same file again must fire 'change' again
    if (file) loadFile(file);
  });
  section.addEventListener('dragover', (event) => {
    if (hub.busy) return;
    event.preventDefault();
    section.classList.add('is-drop-target');
  });
  section.addEventListener('dragleave', () => section.classList.remove('is-drop-target'));
  section.addEventListener('drop', (event) => {
    event.preventDefault();
    section.classList.remove('is-drop-target');
    const [file] = event.dataTransfer?.files ?? [];
    if (file && !hub.busy) loadFile(file);
  });

  backButton.addEventListener('click', async () => {
    try {
      hub.setModel(hub.wasm.Recognizer.pretrained(), { ...PRETRAINED_INFO });
    } catch (error) {
      hub.error(`The pretrained model could not be loaded: ${error.message}`, 'Reload the page');
      return;
    }
    await setActive(false); // stay with the pretrained model after a reload too
    describeSaved();
  });
  restoreButton.addEventListener('click', async () => {
    if (!saved) return;
    restore(saved);
    await setActive(true);
    describeSaved();
  });
  forgetButton.addEventListener('click', async () => {
    try {
      await storage.delete(MODELS, SAVED_KEY);
      saved = null;
    } catch (error) {
      storageFailed('The saved model could not be deleted', error);
    }
    describeSaved();
  });

  hub.addEventListener('model', ({ detail }) => {
    if (detail.info?.source !== 'file') inlineMessage(message, '');
    if (REMEMBERED_SOURCES.includes(detail.info?.source)) remember(detail.recognizer, detail.info);
    describeSaved();
  });
  hub.addEventListener('busy', describeSaved);
  describeSaved();

  // Restore the last model on start, unless the user chose the pretrained one since or a
  // lesson link chose the model (hub.modelFromLink, set by classroom/classroom.js).
  storage.get(MODELS, SAVED_KEY).then(
    (record) => {
      saved = record ?? null;
      if (saved?.active && hub.info?.source === 'pretrained' && !hub.busy && !hub.modelFromLink) restore(saved);
      describeSaved();
    },
    (error) => {
      saved = null;
      describeSaved();
      storageFailed('This browser does not let the page remember models', error);
    },
  );
}
