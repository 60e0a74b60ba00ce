// Shared helpers of the kerasviz dashboard. Text goes into the page with
// textContent only: the iframe shares TensorBoard's origin.

/** A new element; `text` is set with textContent, `attrs` with setAttribute / properties. */
export function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, String(value));
  }
  if (text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A new SVG element (attributes only, text via textContent). */
export function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

/** A URL of one of our routes, relative to the plugin's base (works under --path_prefix). */
export function routeURL(route, params = {}) {
  const url = new URL("./" + route, document.baseURI);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, String(value));
  return url.toString();
}

/** GET a route as JSON; rejects with the server's text message on errors. */
export async function fetchJSON(route, params = {}, signal = undefined) {
  const response = await fetch(routeURL(route, params), { signal, credentials: "same-origin" });
  if (!response.ok) {
    const message = await response.text();
    throw new Error(`${route}: ${response.status} ${message}`);
  }
  return response.json();
}

/** A small LRU map. */
export class LRU {
  constructor(size) { this.size = size; this.map = new Map(); }
  get(key) {
    if (!this.map.has(key)) return undefined;
    const value = this.map.get(key);
    this.map.delete(key); this.map.set(key, value);
    return value;
  }
  set(key, value) {
    this.map.delete(key); this.map.set(key, value);
    while (this.map.size > this.size) this.map.delete(this.map.keys().next().value);
  }
}

/**
 * Decodes an array as sent by /record. Floats come quantized to 8 bits per 2-D
 * slice ("uint8-linear": value = lo + q / 255 * (hi - lo)); ints come raw.
 * Returns {shape, q (Uint8Array) | values (Float64Array), lo, hi, sliceSize, value(i)}.
 */
export function decodeArray(encoded) {
  if (!encoded) return null;
  const shape = encoded.shape;
  const sliceSize = shape.length >= 2 ? shape[shape.length - 1] * shape[shape.length - 2] : shape.reduce((a, b) => a * b, 1);
  if (encoded.encoding === "uint8-linear") {
    const q = Uint8Array.from(encoded.data);
    const lo = encoded.lo, hi = encoded.hi;
    return {
      shape, q, lo, hi, sliceSize,
      value(i) {
        const s = Math.floor(i / sliceSize);
        return lo[s] + (q[i] / 255) * (hi[s] - lo[s]);
      },
    };
  }
  if (encoded.encoding === "raw") {
    const values = Float64Array.from(encoded.data);
    return { shape, values, sliceSize, value: (i) => values[i] };
  }
  return { shape, sliceSize, unavailable: encoded.encoding };
}

/** Calls `fn` once `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const imageCache = new LRU(256);

/** A promise of a decoded <img> for one of our /image URLs (cached). */
export function loadImage(url) {
  let promise = imageCache.get(url);
  if (!promise) {
    promise = new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("image failed: " + url));
      image.src = url;
    });
    promise.catch(() => imageCache.map.delete(url));
    imageCache.set(url, promise);
  }
  return promise;
}

/** Runs `callback(element)` once, when `element` first comes near the viewport. */
export function whenVisible(element, callback) {
  if (!("IntersectionObserver" in window)) { callback(element); return () => {}; }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) { observer.disconnect(); callback(element); }
  }, { rootMargin: "200px" });
  observer.observe(element);
  return () => observer.disconnect();
}

/** A class name for display: "3: dog", or "3" when the record has no names. */
export function className(header, index) {
  if (index === null || index === undefined || index === "") return "?";
  const names = header && Array.isArray(header.class_names) ? header.class_names : null;
  const name = names && names[index] !== undefined ? names[index] : null;
  return name === null ? String(index) : `${index}: ${name}`;
}

/** Formats a number compactly. */
export function fmt(value, digits = 3) {
  if (typeof value !== "number" || !isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) >= 1e4 || Math.abs(value) < 1e-3)) return value.toExponential(2);
  return value.toFixed(digits).replace(/\.?0+$/, "") || "0";
}

/** One request at a time: `next()` cancels the previous one and returns the new one's signal. */
export function latestRequest() {
  let controller = null;
  return {
    next() {
      if (controller) controller.abort();
      controller = new AbortController();
      return controller.signal;
    },
    cancel() {
      if (controller) controller.abort();
    },
  };
}

// Where the dashboard is, kept in the page's URL: a `kv=<JSON>` part of the hash of
// TensorBoard's own page (same origin; `#kerasviz&kv=...`), or of this frame's
// when that page cannot be reached. A link opens the same page; a reload restores it.
const LINK = "kv=";

function linkWindow() {
  try {
    if (window.top && window.top.location && window.top.location.hash !== undefined) return window.top;
  } catch (error) { /* another origin */ }
  return window;
}

/** The state the URL holds (`{}` when none, or unreadable). */
export function readLink() {
  const parts = linkWindow().location.hash.replace(/^#/, "").split("&");
  const part = parts.find((p) => p.startsWith(LINK));
  if (!part) return {};
  try {
    const value = JSON.parse(decodeURIComponent(part.slice(LINK.length)));
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch (error) {
    return {};
  }
}

/** Puts `state` in the URL without a new history entry. */
export function writeLink(state) {
  const win = linkWindow();
  const parts = win.location.hash.replace(/^#/, "").split("&").filter((p) => p && !p.startsWith(LINK));
  if (win === window.top && !parts.length) parts.push("kerasviz");
  parts.push(LINK + encodeURIComponent(JSON.stringify(state)));
  const url = `${win.location.pathname}${win.location.search}#${parts.join("&")}`;
  try {
    win.history.replaceState(win.history.state, "", url);
  } catch (error) { /* a sandboxed frame: the state lives only in memory */ }
}
