// What the page's existing areas put in a lesson link (see lesson-state.js), registered from
// outside them so the areas need not know about links:
//   model    the model in use: the pretrained one, or a model trained or loaded in the
//            sender's browser, named with its architecture (its weights are too large for a link)
//   editor   the Model editor's architecture, and the one offered to the Train area as "custom"
//   train    every field of the Train settings, by its name
//   drawing  the strokes on the pad (stroke-code.js)
//   maps     the colour scale of the maps and the enlarged channel, if one is open
//   explain  the "Why this digit?" choices: method, target, contrast, overlay on the pad
//   view     the area at the top of the window
import { registerState } from './lesson-state.js';
import { encodeStrokes, decodeStrokes } from './stroke-code.js';

const PRETRAINED = { source: 'pretrained', label: 'pretrained (model/)' };
/** The page's areas, top to bottom, by the key a link names them with. */
export const AREAS = { draw: 'area-draw', inside: 'area-inside', train: 'area-train', model: 'area-model' };

const sameLayers = (a, b) => JSON.stringify(a.layers) === JSON.stringify(b.layers);

/** An architecture from a link, checked by Rust; throws its message when it cannot be built. */
function checkedArchitecture(hub, architecture) {
  if (!architecture || !Array.isArray(architecture.layers)) throw new Error('the architecture in the link has no list of layers');
  const analysis = hub.wasm.analyzeArchitecture(JSON.stringify(architecture));
  if (!analysis.ok) throw new Error(`the architecture in the link cannot be built: ${analysis.message}`);
  return { name: String(architecture.name ?? 'custom'), layers: architecture.layers };
}

function trainForm() {
  return document.querySelector('#area-train form.train-settings');
}

/** The area nearest the top of the window (on wide screens the Draw column stays in view
 *  beside the others: then the area in the right-hand column). */
function areaInView() {
  let best = null;
  for (const [key, id] of Object.entries(AREAS)) {
    const node = document.getElementById(id);
    if (!node || node.hidden || getComputedStyle(node).position === 'sticky') continue;
    const { top, bottom } = node.getBoundingClientRect();
    if (bottom > 80 && (!best || top < best.top)) best = { key, top };
  }
  return best?.key;
}

export function registerPageParts({ hub, areas }) {
  registerState('model', {
    get() {
      if (!hub.info || !hub.recognizer) return undefined;
      if (hub.info.source === 'pretrained') return { use: 'pretrained' };
      return { use: 'named', label: hub.info.label ?? hub.info.source, architecture: hub.recognizer.architecture() };
    },
    set(value) {
      if (hub.info?.source !== 'pretrained') hub.setModel(hub.wasm.Recognizer.pretrained(), PRETRAINED);
      if (value?.use === 'pretrained') return;
      if (value?.use !== 'named') throw new Error('the link names a kind of model this page does not know');
      const architecture = checkedArchitecture(hub, value.architecture);
      areas.lab?.editor.load(architecture, architecture.name);
      throw new Error(`the model “${value.label}” was trained in the browser the link came from, and its weights are too large for a link: ` +
        'the pretrained model is in use instead. Its architecture is in the Model editor, ready to train');
    },
  });

  registerState('editor', {
    get() {
      const editor = areas.lab?.editor;
      if (!editor) return undefined;
      const architecture = editor.architecture();
      const edited = !sameLayers(architecture, hub.wasm.presetArchitecture('cnn'));
      const offered = hub.customArchitecture ?? null;
      return edited || offered ? { architecture, offered } : undefined;
    },
    set(value) {
      const editor = areas.lab?.editor;
      if (!editor) throw new Error('the Model area is not on this page');
      const architecture = checkedArchitecture(hub, value.architecture);
      editor.load(architecture, architecture.name);
      if (value.offered) {
        hub.customArchitecture = checkedArchitecture(hub, value.offered);
        hub.dispatchEvent(new CustomEvent('custom-architecture', { detail: { architecture: hub.customArchitecture } }));
      }
    },
  });

  registerState('train', {
    get() {
      const form = trainForm();
      if (!form) return undefined;
      const fields = {};
      for (const field of form.elements) {
        if (!field.name) continue;
        fields[field.name] = field.type === 'checkbox' ? field.checked : field.value;
      }
      return fields;
    },
    set(fields) {
      const form = trainForm();
      if (!form) throw new Error('the Train area is not on this page');
      const refused = [];
      for (const [name, value] of Object.entries(fields ?? {})) {
        const field = form.elements[name];
        if (!field || !field.name) {
          refused.push(name);
        } else if (field.type === 'checkbox') {
          field.checked = value === true;
        } else {
          field.value = String(value);
          // A select keeps its value only when it has that option (e.g. no "custom" architecture).
          if (field.value !== String(value)) refused.push(`${name} = ${value}`);
        }
      }
      form.dispatchEvent(new Event('change', { bubbles: true }));
      if (refused.length) throw new Error(`these Train settings are not on this page: ${refused.join(', ')}`);
    },
  });

  registerState('drawing', {
    get: () => (areas.draw && !areas.draw.pad.isEmpty ? encodeStrokes(areas.draw.pad.strokes) : undefined),
    set: (code) => areas.draw.pad.setStrokes(decodeStrokes(code)),
  });

  registerState('maps', {
    get() {
      const maps = areas.draw?.maps;
      if (!maps) return undefined;
      const open = maps.detail ? { layer: maps.detail.group.tap.name, channel: maps.detail.channel } : null;
      return maps.mode === 'layer' && !open ? undefined : { scale: maps.mode, open };
    },
    set(value) {
      const maps = areas.draw?.maps;
      if (!maps) throw new Error('the maps are not on this page');
      const radio = document.querySelector(`input[name="scale-mode"][value="${value.scale === 'channel' ? 'channel' : 'layer'}"]`);
      radio.checked = true;
      maps.setMode(radio.value);
      if (!value.open) return;
      const group = maps.groups.find((g) => g.tap.name === value.open.layer && g.kind === 'spatial');
      if (!group) throw new Error(`the model in use has no layer “${value.open.layer}” to enlarge`);
      const channel = Number(value.open.channel);
      if (!Number.isInteger(channel) || channel < 0 || channel >= group.canvases.length) throw new Error(`${value.open.layer} has no channel ${value.open.channel}`);
      maps.openDetail(group, channel);
    },
  });

  registerState('explain', {
    get() {
      const choices = areas.explain?.choices();
      const isDefault = choices && choices.method === 'gradient' && choices.target === undefined && choices.versus === undefined && choices.onPad;
      return isDefault ? undefined : choices;
    },
    set(value) {
      if (!areas.explain) throw new Error('the explanation is not on this page');
      areas.explain.setChoices(value);
    },
  });

  registerState('view', {
    get: areaInView,
    set(key) {
      const node = document.getElementById(AREAS[key]);
      if (!node) throw new Error(`the page has no area “${key}”`);
      node.scrollIntoView({ block: 'start', behavior: 'instant' });
    },
  });
}
