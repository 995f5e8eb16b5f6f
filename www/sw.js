// The service worker that keeps digitlens working offline after the first visit.
//
// What it caches: the page's own files, as they pass through it, plus every file the page
// names in a {type: 'cache', urls} message (app.js sends what the page and the training worker
// loaded before this worker was in control). Nothing from other origins.
//
// How it serves them:
//   cache first     the bundled data (data/*.gz): never changes, 4.9 MB not worth re-fetching;
//   network first   everything else (html, css, js, the wasm): a new build is used as soon as
//                   it is on the server; the cached copy only when the network fails.
//
// CACHE is versioned: a new name (when what is cached or how changes) drops the old caches.
const CACHE = 'digitlens-v1';
const IMMUTABLE = /\/data\/[^/]+\.gz$/;

self.addEventListener('install', (event) => {
  // The page shell, so a reload offline finds something even before the page's message.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.add('./')).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith('digitlens-') && n !== CACHE).map((n) => caches.delete(n)));
    // Control the page that registered us now, so the files it loads next are cached too.
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || request.headers.has('range')) return;
  event.respondWith(IMMUTABLE.test(url.pathname) ? cacheFirst(event) : networkFirst(event));
});

self.addEventListener('message', (event) => {
  if (event.data?.type !== 'cache') return;
  const reply = event.ports[0];
  event.waitUntil(cacheAll(event.data.urls).then(
    (summary) => reply?.postMessage({ type: 'cached', ...summary }),
    (error) => reply?.postMessage({ type: 'cached', error: error.message || String(error) }),
  ));
});

/** Keeps a good same-origin response (opaque or error responses are never cached). */
function keep(event, request, response) {
  if (response.ok && response.type === 'basic') {
    const copy = response.clone();
    event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
  }
  return response;
}

async function cacheFirst(event) {
  const cached = await caches.match(event.request);
  return cached || keep(event, event.request, await fetch(event.request));
}

async function networkFirst(event) {
  const { request } = event;
  try {
    return keep(event, request, await fetch(request));
  } catch (networkError) {
    // Offline (or the server is gone): the last copy we have. A page address with a query
    // or a hash still gets the page.
    const navigation = request.mode === 'navigate';
    const cached = (await caches.match(request, { ignoreSearch: navigation })) || (navigation && (await caches.match('./')));
    if (cached) return cached;
    throw networkError;
  }
}

/** Caches the same-origin `urls` not cached yet; answers how many files and bytes are kept. */
async function cacheAll(urls) {
  const cache = await caches.open(CACHE);
  const wanted = [...new Set(urls.map((u) => new URL(u, self.location.href)).filter((u) => u.origin === self.location.origin).map((u) => {
    u.hash = '';
    return u.href;
  }))];
  const failed = [];
  await Promise.all(wanted.map(async (url) => {
    if (await cache.match(url)) return;
    try {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await cache.put(url, response);
    } catch (error) {
      failed.push(`${new URL(url).pathname}: ${error.message || error}`);
    }
  }));
  let bytes = 0;
  const kept = await cache.keys();
  for (const request of kept) bytes += Number((await cache.match(request)).headers.get('Content-Length')) || 0;
  return { files: kept.length, bytes, failed };
}
