// The model lab (the page's "Model" area): the summary of the model in use, an architecture
// editor whose errors teach, a comparison of training runs, weights in and out, the confusion
// matrix on the test set, fine-tuning on the user's own handwriting, and a class's handwriting
// as a dataset (classroom/class-data.js).
//
// Hub contract (see hub.js for 'model', 'error', 'busy'):
//   reads   hub.recognizer, hub.info, hub.busy, hub.runs + 'run' events (from the Train panel),
//           'recognition' events {detail: {result}} (from the Draw area: the latest drawing)
//   writes  hub.customArchitecture + 'custom-architecture' event {detail: {architecture}}
//           'show-input' event {detail: {pixels: Float32Array(784) 0..1, label}} (for the Draw area)
//           hub.trainer: the Train panel's shared TrainerClient, set here on first use if missing
//           (+ a 'trainer' event), so the page runs one worker.
import { el } from './lab-common.js';
import { mountSummary } from './lab-summary.js';
import { mountEditor } from './lab-editor.js';
import { mountCompare } from './lab-compare.js';
import { mountWeights } from './lab-weights.js';
import { mountConfusion } from './lab-confusion.js';
import { mountTeach } from './lab-teach.js';
import { mountClassData } from './classroom/class-data.js';

function addStylesheet() {
  const href = new URL('./lab.css', import.meta.url).href;
  if (document.querySelector(`link[rel="stylesheet"][href="${href}"]`)) return;
  document.head.append(el('link', { rel: 'stylesheet', href }));
}

export function mountLab(root, hub) {
  addStylesheet();
  root.classList.add('lab'); // the size container of lab.css's layout
  const section = (name) => el('section', { className: `lab-section card lab-${name}`, dataset: { lab: name } });
  const sections = {
    summary: section('summary'),
    editor: section('editor'),
    compare: section('compare'),
    weights: section('weights'),
    confusion: section('confusion'),
    teach: section('teach'),
    class: section('class'),
  };
  root.replaceChildren(el('div', { className: 'lab-grid' }, Object.values(sections)));

  const editor = mountEditor(sections.editor, hub);
  mountSummary(sections.summary, hub, {
    onEdit: (architecture) => {
      editor.load(architecture);
      sections.editor.scrollIntoView({ block: 'start' });
      sections.editor.querySelector('.lab-layer')?.focus({ preventScroll: true });
    },
  });
  mountCompare(sections.compare, hub);
  mountWeights(sections.weights, hub);
  mountConfusion(sections.confusion, hub);
  mountTeach(sections.teach, hub);
  const classData = mountClassData(sections.class, hub);
  return { editor, classData };
}
