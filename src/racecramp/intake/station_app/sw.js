/* The station app's service worker: keeps the app shell so the page opens with no network.
 * The shell list and its version (a digest of the files) come from shell.js, made by the
 * intake: a new version installs itself and removes the old cache. Requests to the intake's
 * API (/v1/...) are never cached or answered here; they go to the network as they are.
 */
"use strict";

importScripts("shell.js");

const CACHE_PREFIX = "racecramp-station-";
const CACHE = CACHE_PREFIX + self.STATION_SHELL.version;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(self.STATION_SHELL.files.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith(CACHE_PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!self.STATION_SHELL.files.includes(url.pathname)) return;
  // Cache first: the shell must open at an aid station with no signal.
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(url.pathname).then((hit) => hit || fetch(event.request))),
  );
});
