// Projector mode (#projector, and 'projector' in a lesson link): only the pad, the prediction
// and one chosen layer's maps, large and high-contrast for the back of a room (classroom.css,
// body.projector). Keys: ← → choose the layer; PageDown / PageUp (what presenter clickers
// send) or N / P step through the tour, opening it if needed; Esc leaves projector mode.
import { el } from '../lab-common.js';
import { STEPS } from '../tour.js';
import { registerState } from './lesson-state.js';

/** Gap between tiles in projector mode, CSS px (classroom.css uses the same). */
const TILE_GAP = 8;

/** The largest tile side (px) that fits `count` square tiles in width × height. */
export function tileSide(count, width, height, gap = TILE_GAP) {
  let best = 0;
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    const side = Math.floor(Math.min((width + gap) / columns, (height + gap) / rows) - gap);
    best = Math.max(best, side);
  }
  return best;
}

export function mountProjector({ hub, areas, slot }) {
  const button = el('button', { type: 'button', id: 'projector', className: 'btn', 'aria-pressed': 'false', title: 'Large and high-contrast for a projector: the pad, the prediction and one layer (← → layers, PageDown/PageUp the tour, Esc leaves)' }, 'Projector');
  slot.append(button);
  const caption = el('p', { className: 'projector-keys', id: 'projector-keys', 'aria-live': 'polite' });
  document.getElementById('inside-root').before(caption);

  let on = false;
  /** The chosen layer's tap name (kept across models while it exists). */
  let layer = null;

  const spatialGroups = () => (areas.draw?.maps?.groups ?? []).filter((g) => g.kind === 'spatial');

  /** Marks the chosen layer's group and sizes its tiles to fill the Look inside area. */
  function project() {
    const groups = spatialGroups();
    if (!on) return;
    const chosen = groups.find((g) => g.tap.name === layer) ?? groups[0];
    layer = chosen?.tap.name ?? layer;
    for (const g of groups) g.details.classList.toggle('is-projected', g === chosen);
    const index = groups.indexOf(chosen);
    caption.textContent = chosen
      ? `Layer ${index + 1} of ${groups.length}: ${chosen.tap.name} · ← → another layer`
      : 'This model has no layers with maps';
    if (!chosen) return;
    chosen.details.open = true;
    const tiles = chosen.tiles;
    const top = tiles.getBoundingClientRect().top + window.scrollY;
    const area = document.getElementById('area-inside').getBoundingClientRect();
    const side = tileSide(chosen.canvases.length, tiles.clientWidth, window.innerHeight - top - 24);
    tiles.style.setProperty('--projector-tile', `${Math.max(8, Math.min(side, area.width))}px`);
  }

  function setOn(value) {
    on = value;
    document.body.classList.toggle('projector', on);
    document.documentElement.classList.toggle('projector', on);
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? 'Leave projector' : 'Projector';
    if (on) {
      areas.draw?.maps?.closeDetail();
      window.scrollTo({ top: 0, behavior: 'instant' });
      // Layout first (the pad and the area change size), then the tiles are fitted.
      requestAnimationFrame(project);
    } else {
      for (const g of spatialGroups()) g.details.classList.remove('is-projected');
    }
  }

  function step(by) {
    const groups = spatialGroups();
    if (!groups.length) return;
    const index = Math.max(0, groups.findIndex((g) => g.tap.name === layer));
    layer = groups[(index + by + groups.length) % groups.length].tap.name;
    project();
  }

  function tour(by) {
    const t = areas.tour;
    if (!t || !hub.recognizer) return;
    if (!t.dialog.open) t.open(by > 0 ? 0 : STEPS.length - 1);
    else if (t.step + by >= STEPS.length) t.close();
    else t.open(Math.max(0, t.step + by));
  }

  button.addEventListener('click', () => setOn(!on));
  document.addEventListener('keydown', (e) => {
    if (!on || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const inTour = areas.tour?.dialog.open;
    const key = e.key;
    if (key === 'PageDown' || (key === 'n' && !inTour)) tour(1);
    else if (key === 'PageUp' || (key === 'p' && !inTour)) tour(-1);
    else if (inTour) return; // the tour's own keys (← → Esc)
    else if (key === 'ArrowRight' || key === 'ArrowLeft') step(key === 'ArrowRight' ? 1 : -1);
    else if (key === 'Escape') setOn(false);
    else return;
    e.preventDefault();
  });
  // New maps (another model) or new values: keep the chosen layer marked and fitted.
  hub.addEventListener('recognition', project);
  hub.addEventListener('model', () => requestAnimationFrame(project));
  window.addEventListener('resize', project);

  registerState('projector', {
    early: true,
    get: () => (on ? { layer } : undefined),
    set(value) {
      layer = typeof value?.layer === 'string' ? value.layer : null;
      setOn(true);
    },
  });

  return { setOn, step, get on() { return on; }, get layer() { return layer; } };
}
