// What the model lab keeps across reloads, in this browser's IndexedDB only (nothing is sent
// anywhere): the last trained or loaded model, and the user's labelled drawings.
//
//   store 'models'    key 'last' → {bytes: Uint8Array (safetensors), info, savedAt, active}
//   store 'drawings'  auto id    → {id, label, pixels: Uint8Array(784), savedAt}

const DB_NAME = 'digitlens-lab';
const DB_VERSION = 1;
export const MODELS = 'models';
export const DRAWINGS = 'drawings';

let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('the browser storage (IndexedDB) failed'));
  });
}

function open() {
  if (!('indexedDB' in globalThis)) {
    return Promise.reject(new Error('this browser offers no storage (IndexedDB) to this page'));
  }
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(MODELS)) db.createObjectStore(MODELS);
      if (!db.objectStoreNames.contains(DRAWINGS)) db.createObjectStore(DRAWINGS, { keyPath: 'id', autoIncrement: true });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('the browser storage (IndexedDB) could not be opened'));
    req.onblocked = () => reject(new Error('the browser storage is held by another tab of this page: close it and reload'));
  });
  // A failed open may succeed later (e.g. after the other tab closes): do not cache failures.
  opening.catch(() => { opening = null; });
  return opening;
}

async function run(storeName, mode, action) {
  const db = await open();
  const transaction = db.transaction(storeName, mode);
  // A write counts once the transaction commits (e.g. the disk quota is checked then).
  const committed = new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = transaction.onabort = () => reject(transaction.error ?? new Error('the browser storage refused to save'));
  });
  const [result] = await Promise.all([request(action(transaction.objectStore(storeName))), committed]);
  return result;
}

export const storage = {
  get: (store, key) => run(store, 'readonly', (s) => s.get(key)),
  all: (store) => run(store, 'readonly', (s) => s.getAll()),
  /** Resolves with the key (the new id for drawings). */
  put: (store, value, key) => run(store, 'readwrite', (s) => (key === undefined ? s.put(value) : s.put(value, key))),
  delete: (store, key) => run(store, 'readwrite', (s) => s.delete(key)),
  clear: (store) => run(store, 'readwrite', (s) => s.clear()),
};
