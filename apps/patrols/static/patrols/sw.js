/* Service worker of the phone page (scope /m/): the page shell, its static files and the map data are
   answered from the cache when the network is gone, so a reload offline reopens the page and the patrol
   resumes from the outbox in localStorage. Writes (POST) are never touched: the page queues them. */
const CACHE = "linli-phone-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

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

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" && url.pathname === "/m/") {
    event.respondWith(networkFirst(request, "/m/"));
  } else if (url.pathname === "/api/patrols/my-map" || url.pathname === "/api/patrols") {
    event.respondWith(networkFirst(request));
  }
});
