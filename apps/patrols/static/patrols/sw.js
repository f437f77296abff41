/* Service worker of the phone page (scope /m/): the page shell, its static files and the map data are
   answered from the cache when the network is gone, so a reload offline reopens the page and the patrol
   resumes from the outbox in localStorage. Writes (POST) are never touched: the page queues them. */
const CACHE = "linli-phone-v2";

self.addEventListener("install", () => self.skipWaiting());
// v1 answered static files from the cache for ever: a phone never saw a new phone.js. Its cache goes.
self.addEventListener("activate", (event) => event.waitUntil((async () => {
  for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
  await self.clients.claim();
})()));

async function networkFirst(request, fallbackUrl) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = (await cache.match(request)) || (await cache.match(request, { ignoreSearch: true })) ||
      (fallbackUrl ? await cache.match(fallbackUrl) : undefined);
    return hit || Response.error();
  }
}

// Static files (their names carry no version): the cached copy at once, and a fresh one fetched
// behind it for the next load (stale-while-revalidate), so a new release reaches phones on the load
// after it instead of never; offline, the cached copy.
async function staleWhileRevalidate(request, event) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  const fresh = fetch(request).then(async (response) => {
    if (response.ok) await cache.put(request, response.clone());
    return response;
  });
  if (hit) {
    event.waitUntil(fresh.catch(() => undefined));  // offline: keep the cached copy
    return hit;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.cache === "reload") {
    // the page refreshing its offline copy (phone.js prepareOffline): from the network
    event.respondWith(networkFirst(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staleWhileRevalidate(request, event));
  } else if (request.mode === "navigate" && url.pathname === "/m/") {
    event.respondWith(networkFirst(request, "/m/"));
  } else if (url.pathname === "/api/patrols/my-map" || url.pathname === "/api/patrols") {
    event.respondWith(networkFirst(request));
  }
});
