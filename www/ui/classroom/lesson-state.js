// Lesson links: the page's state in the URL fragment, so a link reproduces it.
//
// Each part of the page registers what it contributes under a short key:
//   registerState('drawing', { get: () => value | undefined, set: async (value) => void, early })
// get() returns a JSON-able value (undefined: nothing worth putting in the link); set(value)
// restores it, throwing an Error whose message says what could not be restored. `early`
// entries (hidden parts, projector mode) are restored as soon as the page starts, before the
// pad takes strokes, so nothing moves under the pen later; the others once the model is in use,
// in the order they were registered (the model before the drawing it reads).
// Register when the part mounts (before app.js restores the link): a key no part has registered
// by then is reported as not restorable.
//
// The fragment: `#lesson=<version>.<payload>`, payload = base64url(deflate-raw(JSON of
// {key: value})). VERSION changes when a key's meaning changes; older versions are upgraded
// (UPGRADES) or reported as not restorable, never misread.

export const VERSION = 1;
const PREFIX = '#lesson=';
/** A link longer than this is refused before decoding (browsers cut URLs at 32–64 KB anyway). */
const MAX_LINK_CHARS = 64_000;
/** Upgrades of an older version's state to the next version's: {fromVersion: (state) => state}. */
const UPGRADES = {};

const entries = new Map();

/** What a part of the page puts in a lesson link (see the top of this file). */
export function registerState(key, { get, set, early = false }) {
  if (entries.has(key)) throw new Error(`lesson state "${key}" is registered twice`);
  entries.set(key, { get, set, early });
}

/** Whether a URL fragment (location.hash) is a lesson link. */
export const isLessonHash = (hash) => hash.startsWith(PREFIX);

/** The state of every registered part, as a plain object (keys with nothing to say left out). */
export function collectState() {
  const state = {};
  for (const [key, entry] of entries) {
    const value = entry.get();
    if (value !== undefined && value !== null) state[key] = value;
  }
  return state;
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function toBase64Url(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('it contains characters a lesson link never has');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** `#lesson=1.…` for a state object. */
export async function encodeLesson(state) {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return `${PREFIX}${VERSION}.${toBase64Url(await pipe(json, new CompressionStream('deflate-raw')))}`;
}

/** The state in a lesson fragment, upgraded to this version. Throws an Error saying why a
 *  link cannot be read at all (cut short, from a newer page, not a lesson link). */
export async function decodeLesson(hash) {
  if (!isLessonHash(hash)) throw new Error('this is not a lesson link');
  if (hash.length > MAX_LINK_CHARS) throw new Error(`the link is ${hash.length} characters long, more than a lesson link can be`);
  const body = hash.slice(PREFIX.length);
  const dot = body.indexOf('.');
  const version = Number(body.slice(0, dot));
  if (dot < 1 || !Number.isInteger(version) || version < 1) throw new Error('its version number is missing');
  if (version > VERSION) {
    throw new Error(`it was made by a newer digitlens (lesson link version ${version}; this page reads up to ${VERSION}): open it in an up-to-date copy of the page`);
  }
  let state;
  try {
    const json = await pipe(fromBase64Url(decodeURIComponent(body.slice(dot + 1))), new DecompressionStream('deflate-raw'));
    state = JSON.parse(new TextDecoder().decode(json));
  } catch {
    throw new Error('it is damaged or cut short (copy the whole link)');
  }
  if (!state || typeof state !== 'object' || Array.isArray(state)) throw new Error('it holds no page state');
  for (let v = version; v < VERSION; v++) state = UPGRADES[v](state);
  return state;
}

/**
 * Restores the registered parts present in `state` (early ones, or the others).
 * Returns {restored: [key], failed: [{key, reason}]}; parts this page does not have (a link
 * from a page with more features) are failed with a reason too. Nothing throws.
 */
export async function applyState(state, { early }) {
  const restored = [];
  const failed = [];
  for (const [key, entry] of entries) {
    if (entry.early !== early || !(key in state)) continue;
    try {
      await entry.set(state[key]);
      restored.push(key);
    } catch (e) {
      failed.push({ key, reason: e.message || String(e) });
    }
  }
  if (!early) {
    for (const key of Object.keys(state)) {
      if (!entries.has(key)) failed.push({ key, reason: 'this page has no such part' });
    }
  }
  return { restored, failed };
}
