// The classroom features' entry point (issue 18): lesson links (lesson-state.js, with the
// page's parts in lesson-parts.js and the Share button in share.js) and projector mode.
//
// Styles: classroom.css (linked from index.html, so nothing shifts when it loads).
// app.js calls mountClassroom() before the model loads; the parts of a lesson link that shape
// the page (hidden parts, projector mode) are restored at once, before the pad takes strokes;
// restoreLesson() restores the rest once the model and the areas are there.
import { isLessonHash, decodeLesson, applyState } from './lesson-state.js';
import { registerPageParts } from './lesson-parts.js';
import { mountShare } from './share.js';
import { mountProjector } from './projector.js';

export function mountClassroom({ hub, areas, slot }) {
  registerPageParts({ hub, areas });
  const share = mountShare({ areas, slot });
  const projector = mountProjector({ hub, areas, slot });

  /** The opened link's state (null: none, or unreadable) and whether the page can take the rest. */
  let pending = null;
  let pageReady = false;

  async function open(hash) {
    if (!isLessonHash(hash)) return;
    let state;
    try {
      state = await decodeLesson(hash);
    } catch (e) {
      share.report([{ key: 'link', reason: e.message }], 'This lesson link could not be opened: the page is as usual.');
      return;
    }
    // The link's model wins over the one this browser would restore (lab-weights.js).
    if ('model' in state) hub.modelFromLink = true;
    const early = await applyState(state, { early: true });
    share.report(early.failed);
    pending = state;
    if (pageReady) await restoreRest();
  }

  async function restoreRest() {
    const state = pending;
    pending = null;
    if (!state) return;
    const rest = await applyState(state, { early: false });
    share.report(rest.failed);
    document.body.dataset.lesson = 'restored';
  }

  const opening = open(location.hash);
  // A link pasted into this tab's address bar changes only the fragment.
  window.addEventListener('hashchange', () => open(location.hash));

  return {
    share,
    projector,
    /** Resolves once the link's page-shaping parts are restored (call before the pad is ready). */
    early: opening,
    /** Restores the rest of the opened link: call when the model is in use and the areas are mounted. */
    async restoreLesson() {
      await opening;
      pageReady = true;
      await restoreRest();
    },
  };
}
