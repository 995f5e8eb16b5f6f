// Loads robust.css once (a <link>: the page's CSP allows its own stylesheets, not inline ones).
export function addRobustStylesheet() {
  const href = new URL('./robust.css', import.meta.url).href;
  if ([...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.href === href)) return;
  document.head.append(Object.assign(document.createElement('link'), { rel: 'stylesheet', href }));
}
