// The page's shared state: the model every area uses, and the events that keep the areas
// in step. One instance, created by app.js and handed to every panel's mount function.
//
// Events (hub.addEventListener(name, e => e.detail)):
//   'model'  detail = {recognizer, info, architectureChanged}   a new model is in use (pretrained,
//            trained, loaded). architectureChanged false: only the weights differ from the
//            model before (e.g. every few seconds during training), so views built from the
//            architecture (layer groups, summaries) can stay and only values need repainting.
//   'error'  detail = {message, action}    show in the error banner
//   'busy'   detail = {busy: bool, what}   training running or not (panels may lock controls)

/** The architecture ({name, layers}) as a string that compares equal for equal ones. */
function architectureKey(recognizer) {
  return JSON.stringify(recognizer.architecture());
}

export class Hub extends EventTarget {
  constructor(wasm) {
    super();
    /** The wasm module namespace: Recognizer, Dataset, Evaluation, Trainer, presetArchitecture, analyzeArchitecture. */
    this.wasm = wasm;
    /** The Recognizer in use (main thread), or null before the pretrained model is ready. */
    this.recognizer = null;
    /** What the model in use is: {source: 'pretrained'|'trained'|'file'|'saved', label, epoch?, valAccuracy?, testAccuracy?}. */
    this.info = null;
  }

  /** Puts a new model in use; the old one is freed. */
  setModel(recognizer, info) {
    const old = this.recognizer;
    const architectureChanged = !old || architectureKey(old) !== architectureKey(recognizer);
    this.recognizer = recognizer;
    this.info = info;
    this.dispatchEvent(new CustomEvent('model', { detail: { recognizer, info, architectureChanged } }));
    if (old && old !== recognizer) old.free();
  }

  /** Reports a failure to the user (the banner); `action` says what to do about it. */
  error(message, action = '') {
    this.dispatchEvent(new CustomEvent('error', { detail: { message, action } }));
  }

  setBusy(busy, what = '') {
    this.busy = busy;
    this.dispatchEvent(new CustomEvent('busy', { detail: { busy, what } }));
  }
}
