// Offline shell: the page and its assets come from this cache when the server that served them
// cannot be reached, so what was read (kept in IndexedDB) shows with every server down. API
// requests are never cached here.
const CACHE = 'agora-shell-v1';
const API = /^\/(events|head|ranges|query_|challenge|purge|claim_handle|release_handle|resolve_|find_claim|search|explore|top_string|recommended|censor|uncensor|version|health|stream|mirrors)/;

// The shell is cached when the worker installs: the page and the assets it names.
self.addEventListener('install', (event) => event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const page = await fetch('/', { cache: 'no-store' });
    const html = await page.clone().text();
    await cache.put('/', page);
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    await cache.addAll(assets);
    await self.skipWaiting();
})()));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
    const request = event.request;
    const url = new URL(request.url);
    if (request.method !== 'GET' || url.origin !== self.location.origin || API.test(url.pathname)) return;
    if (request.mode === 'navigate') {
        event.respondWith(fetch(request).then((response) => {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put('/', copy));
            return response;
        }).catch(() => caches.match('/').then((cached) => cached || Response.error())));
        return;
    }
    if (url.pathname.startsWith('/assets/')) {
        event.respondWith(caches.match(request).then((cached) => cached || fetch(request).then((response) => {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(request, copy));
            return response;
        })));
    }
});
