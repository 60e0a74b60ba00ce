// Every view's toolkit: the record a view shows and the step it shows it at, a record
// cache, the layer chooser, error messages and the info line above a view. Styles live in
// style.css (the one style sheet, linked by the shell). No HTML is ever parsed: text goes
// in with textContent.

import { el, LRU, latestRequest } from "../common.js";

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

/** The text of an error (a failed request: the server's message). */
export function errorText(error) {
  return String((error && error.message) || error);
}

/** Replaces the node's children with one error paragraph. */
export function showError(node, message) {
  node.replaceChildren(el("p", { class: "kv-error" }, message));
}

/** A "from step n" note when the record shown is older than the selected step, else null. */
export function fromStep(step, selection) {
  return step === selection.step ? null : el("span", { class: "kv-act-warn" }, `from step ${step}`);
}

/**
 * The parts of an info line: `main` (text, in bold), then `parts` (text or nodes), the
 * "from step n" note where it applies, then `notes` (warnings, as text).
 */
export function infoParts(main, parts, step, selection, notes = []) {
  const out = [el("span", { class: "kv-act-main" }, main)];
  for (const part of parts) out.push(typeof part === "string" ? el("span", {}, part) : part);
  const older = fromStep(step, selection);
  if (older) out.push(older);
  for (const note of notes) out.push(el("span", { class: "kv-act-warn" }, note));
  return out;
}

/** "3×5" for [3, 5] (or a number), "?" for anything else. */
export function pair(value) {
  if (Array.isArray(value)) return value.map((v) => String(Number(v))).join("×");
  return typeof value === "number" ? `${value}×${value}` : "?";
}

/** The layer a series shows, as the plugin reads it from the tag; its tag when the tag names none. */
function layerName(series) {
  return series.layer || series.tag;
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
      series = [...list].sort((a, b) => String(layerName(a)).localeCompare(String(layerName(b))));
      select.replaceChildren(...series.map((s) => el("option", { value: s.tag }, layerName(s))));
      if (!series.some((s) => s.tag === chosen)) chosen = series.length ? series[0].tag : null;
      if (chosen !== null) select.value = chosen;
      box.hidden = series.length < 2;
      return this.current();
    },
    current() { return series.find((s) => s.tag === chosen) || null; },
  };
}

/**
 * The record of `series` to show: at the selected step, or at the latest one before it.
 * Resolves to `{step, record}`, or to `{error}` (a message: the server's answer, or that
 * there is nothing at or before the step, named with `what`: then `empty` is true). `read(selection, series, step, signal)` reads
 * the record (default: /record through `records`).
 */
export async function recordAt(selection, series, signal, { what, records, read = null }) {
  const step = stepFor(selection, series.tag);
  if (step === null) return { error: `No ${what} at or before step ${selection.step}.`, empty: true };
  try {
    const record = await (read ? read(selection, series, step, signal) : records.get(selection.run, series.tag, step, signal));
    return { step, record };
  } catch (error) {
    return { error: errorText(error) };
  }
}

/**
 * Follows one series at a time: `show(selection, series)` resolves to `{series, step,
 * record, signal}` or `{error}` as `recordAt` does, or to null when a newer call
 * superseded it (or `series` is null).
 */
export function follower(api, { what, records = new Records(api), load = null }) {
  const requests = latestRequest();
  return {
    records,
    async show(selection, series) {
      const signal = requests.next();
      if (!series) return null;
      const shown = await recordAt(selection, series, signal, { what, records, read: load });
      return signal.aborted ? null : { ...shown, series, signal };
    },
    cancel() { requests.cancel(); },
  };
}

/**
 * The frame of a view of one layer at a time: a controls row (the layer chooser, then
 * `controls`), the info line `#<id>-info`, then `body`, appended to `host`. On each
 * selection it follows the chosen layer's series (`follower`, with `what`, `records` and
 * `load`) and calls `draw({selection, series, step, record, signal})`; a failure clears
 * the info line, calls `clear()` and shows its message in `errors`. Returns the view
 * instance `{update, destroy}` with `info` (the line), `refresh()` and `describe(main,
 * parts, step, notes)` (fills the info line, see `infoParts`).
 */
export function layerView(host, api, { id, what, controls = [], body = [], errors, records, load, draw,
  clear = () => {}, destroy = () => {} }) {
  const follow = follower(api, { what, records, load });
  const layers = layerChooser(`${id}-layer`, () => refresh());
  const row = el("div", { class: "kv-controls" });
  row.append(layers.box, ...controls);
  const info = el("div", { class: "kv-act-info", id: `${id}-info` });
  host.append(row, info, ...body);
  let selection = null;

  async function refresh() {
    const shown = await follow.show(selection, layers.set(selection.series));
    if (!shown) return;
    if (shown.error) {
      info.replaceChildren();
      clear();
      showError(errors, shown.error);
      return;
    }
    await draw({ selection, ...shown });
  }

  return {
    info,
    refresh,
    describe(main, parts, step, notes = []) { info.replaceChildren(...infoParts(main, parts, step, selection, notes)); },
    update(next) { selection = next; refresh(); },
    destroy() {
      follow.cancel();
      destroy();
      host.replaceChildren();
    },
  };
}

/**
 * One series' section of a `seriesBlocks` view: `<section class=cls>` titled with the method and
 * tag, and the series' record at the selected step. Resolves to `{section, step, record}`;
 * `record` is null when it could not be read (the section then says why, unless superseded).
 */
export async function seriesSection(cls, selection, series, signal, records) {
  const section = el("section", { class: cls, dataset: { method: series.method, tag: series.tag } });
  section.append(el("h3", {}, `${series.method} (${series.tag})`));
  const { step, record, error } = await recordAt(selection, series, signal, { what: "record of this series", records });
  if (error && !signal.aborted) showError(section, error);
  return { section, step, record: error ? null : record };
}

/**
 * A view of one block per series, shown together in `box` once all are ready:
 * `block(selection, series, signal)` resolves to a series' node; a newer selection
 * supersedes the blocks still loading. Returns the view instance `{update, destroy}`.
 */
export function seriesBlocks(host, box, block) {
  const requests = latestRequest();
  return {
    async update(selection) {
      const signal = requests.next();
      const blocks = await Promise.all(selection.series.map((series) => block(selection, series, signal)));
      if (!signal.aborted) box.replaceChildren(...blocks);
    },
    destroy() {
      requests.cancel();
      host.replaceChildren();
    },
  };
}
