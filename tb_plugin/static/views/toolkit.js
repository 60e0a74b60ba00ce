// Shared by the activations views (filters, embeddings, top patches): the
// layer of a series, the step to show, a record cache, a layer chooser and the
// views' style sheet. No HTML is ever parsed: text goes in with textContent.

import { el, LRU } from "../common.js";

/**
 * The layer a series shows. Tags are `kerasviz/activations/<method>/<layer>` with
 * "/" in layer paths written as "__"; a tag without the suffix names its layer in
 * the record header only (null here).
 */
export function layerOfTag(tag) {
  const parts = String(tag).split("/");
  return parts.length > 3 ? parts.slice(3).join("/").replace(/__/g, "/") : null;
}

/** The step of `tag` to show: the selected one, or the latest one before it (null when none). */
export function stepFor(selection, tag) {
  let best = null;
  for (const s of selection.stepsByTag[tag] || []) if (s <= selection.step && (best === null || s > best)) best = s;
  return best;
}

/** A small cache of /record answers, keyed by run, tag and step. */
export class Records {
  constructor(api, size = 24) { this.api = api; this.cache = new LRU(size); }
  async get(run, tag, step, signal) {
    const key = `${run}\u0000${tag}\u0000${step}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const record = await this.api.fetchJSON("record", { run, tag, step }, signal);
    this.cache.set(key, record);
    return record;
  }
}

/**
 * A <select> of the layers recorded for one method, shown only when there are
 * several. `set(series)` refreshes it and returns the chosen series (the user's
 * choice is kept across steps and runs when the layer still exists).
 */
export function layerChooser(id, onChange) {
  const select = el("select", { id, "aria-label": "layer" });
  const label = el("label", { class: "kv-field", for: id }, "Layer");
  const box = el("span", { class: "kv-act-layer" });
  box.append(label, select);
  let series = [];
  let chosen = null;
  select.addEventListener("change", () => { chosen = select.value; onChange(); });
  return {
    box,
    set(list) {
      series = [...list].sort((a, b) => String(layerOfTag(a.tag) || a.tag).localeCompare(String(layerOfTag(b.tag) || b.tag)));
      select.replaceChildren(...series.map((s) => el("option", { value: s.tag }, layerOfTag(s.tag) || s.tag)));
      if (!series.some((s) => s.tag === chosen)) chosen = series.length ? series[0].tag : null;
      if (chosen !== null) select.value = chosen;
      box.hidden = series.length < 2;
      return this.current();
    },
    current() { return series.find((s) => s.tag === chosen) || null; },
  };
}

/** "3×5" for [3, 5] (or a number), "?" for anything else. */
export function pair(value) {
  if (Array.isArray(value)) return value.map((v) => String(Number(v))).join("×");
  return typeof value === "number" ? `${value}×${value}` : "?";
}

/** Replaces the node's children with one error paragraph. */
export function showError(node, message) {
  node.replaceChildren(el("p", { class: "kv-error" }, message));
}

/** The page-wide style sheet of the activations views, added once (no <style> element, no file). */
export function adoptStyle() {
  if (document.kvActivationsStyle) return;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  document.kvActivationsStyle = sheet;
}

const CSS = `
.kv-act-methods { border-bottom: none; padding-bottom: 0; }
.kv-subtab { border: 1px solid var(--kv-line); border-bottom: none; background: #fafafa; border-radius: 3px 3px 0 0;
  cursor: pointer; padding: 3px 10px; }
.kv-subtab[aria-selected="true"] { border-color: var(--kv-accent); background: #fff3e0; font-weight: 500; }
.kv-act-body { border-top: 1px solid var(--kv-line); }
.kv-act-layer { display: inline-flex; align-items: center; gap: 6px; }
.kv-act-layer[hidden] { display: none; }
.kv-act-info { display: flex; flex-wrap: wrap; gap: 2px 16px; padding: 6px 0; color: var(--kv-muted); font-size: 12px; }
.kv-act-info .kv-act-main { color: var(--kv-fg); font-weight: 500; }
.kv-act-info .kv-act-warn { color: #8d6e63; }

.kv-filters-box { overflow: auto; padding: 4px 0; }
.kv-filters-img { display: block; image-rendering: pixelated; background: #eee;
  border: 1px solid var(--kv-line); }
.kv-filters-img[hidden] { display: none; }

.kv-emb-main { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 10px 18px; padding-top: 6px; }
.kv-emb-plot-box { position: relative; }
.kv-emb-plot { display: block; background: #fcfcfc; border: 1px solid var(--kv-line); user-select: none; }
.kv-emb-tip { position: absolute; pointer-events: none; background: rgba(33, 33, 33, 0.92); color: #fff; font-size: 12px;
  padding: 4px 7px; border-radius: 3px; white-space: pre; max-width: 320px; overflow: hidden; text-overflow: ellipsis;
  z-index: 3; line-height: 1.4; }
.kv-emb-tip[hidden] { display: none; }
.kv-emb-side { width: 300px; display: flex; flex-direction: column; gap: 8px; }
.kv-emb-legend { display: flex; flex-direction: column; gap: 2px; font-size: 12px; }
.kv-emb-legend button { display: flex; align-items: center; gap: 6px; border: 1px solid transparent; background: none;
  text-align: left; cursor: pointer; padding: 1px 4px; max-width: 300px; overflow-wrap: anywhere; }
.kv-emb-legend button[aria-pressed="true"] { border-color: var(--kv-accent); background: #fff3e0; }
.kv-emb-legend .kv-swatch { flex: none; width: 11px; height: 11px; border-radius: 50%; }
.kv-emb-legend .kv-emb-count { color: var(--kv-muted); margin-left: auto; }
.kv-emb-hint { color: var(--kv-muted); font-size: 11px; }
.kv-emb-panel { border-top: 1px solid var(--kv-line); padding-top: 6px; font-size: 12px; }
.kv-emb-panel h4 { margin: 4px 0; font-size: 12px; font-weight: 500; }
.kv-emb-chosen { display: flex; gap: 8px; align-items: flex-start; }
.kv-nb-list { display: grid; grid-template-columns: repeat(auto-fill, minmax(66px, 1fr)); gap: 6px; }
.kv-nb-item { display: flex; flex-direction: column; gap: 1px; font-size: 11px; line-height: 1.25; cursor: pointer;
  overflow-wrap: anywhere; border: 1px solid transparent; padding: 1px; }
.kv-nb-item:hover { border-color: var(--kv-line); }
.kv-emb-canvas { image-rendering: pixelated; background: #eee; border: 2px solid #ccc; box-sizing: content-box; }
.kv-same { color: #2e7d32; }
.kv-other { color: #c62828; }

.kv-patch-rows { display: flex; flex-direction: column; gap: 6px; padding-top: 6px; }
.kv-patch-row { display: flex; align-items: flex-start; gap: 8px; border-bottom: 1px solid #f0f0f0; padding-bottom: 6px; }
.kv-patch-head { width: 92px; flex: none; font-size: 12px; }
.kv-patch-head .kv-note { max-width: 92px; }
.kv-patch-cells { display: flex; flex-wrap: wrap; gap: 6px; }
.kv-patch { margin: 0; display: flex; flex-direction: column; align-items: stretch; }
.kv-patch canvas { display: block; image-rendering: pixelated; background: #eee; }
.kv-patch figcaption { font-size: 11px; color: var(--kv-muted); font-variant-numeric: tabular-nums; }
.kv-patch-bar { height: 3px; background: var(--kv-accent); margin-top: 1px; }
`;
