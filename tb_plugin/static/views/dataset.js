// The "dataset" family: a whole-dataset explanation (`kerasviz.load_explanations(out).write(log_dir)`,
// tag kerasviz/dataset/explanations; header and arrays in kerasviz.summary.write_dataset_summary):
//  - a table of method x metric: the mean ± half the 95 % t-interval (the interval and n in its title),
//    each metric's direction (↑ higher / ↓ lower is better) from the record;
//  - per metric a row of small histograms, one per method, over bins the methods share
//    (images where the metric is undefined counted apart);
//  - a strip of the best and the worst images of the chosen method (by the record's `ranked_by`):
//    the thumbnail with its map overlaid, the dataset index and the value.
// Everything from the record goes into the page as text, never as HTML.

import { el, svg, routeURL, fmt, decodeArray, loadImage } from "../common.js";
import { colorize } from "../colormaps.js";
import { follower, infoParts, Records, showError } from "./toolkit.js";
import { directionHint } from "./attribution_parts.js";

export default { family: "dataset", title: "Dataset", mount };

const HIST_W = 150, HIST_H = 48; // one histogram, in CSS pixels
const THUMB = 96; // CSS pixels a strip image is drawn at, at least
const ALPHA = 0.5; // the map's opacity over its image

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const number = (v) => (typeof v === "number" && isFinite(v) ? v : null);
const strings = (list) => Array.isArray(list) && list.every((v) => typeof v === "string");

/** The record's parts as plain data, or `{error}` for a header that is not a dataset summary. */
export function readDataset(header) {
  const h = header || {};
  if (h.kind !== "dataset" || !strings(h.methods) || !strings(h.metrics) || !isObject(h.strips)) {
    return { error: "not a dataset summary (expected kind, methods, metrics and strips in its header)" };
  }
  const intervals = isObject(h.intervals) ? h.intervals : {};
  const cell = (m, k) => {
    const iv = isObject(intervals[m]) && isObject(intervals[m][k]) ? intervals[m][k] : {};
    return { mean: number(iv.mean), low: number(iv.low), high: number(iv.high), n: number(iv.n) };
  };
  const directions = isObject(h.higher_is_better) ? h.higher_is_better : {};
  return {
    methods: h.methods, metrics: h.metrics, n: number(h.n_items),
    cells: h.methods.map((m) => h.metrics.map((k) => cell(m, k))),
    hints: h.metrics.map((k) => directionHint(directions[k])),
    histograms: isObject(h.histograms) ? h.histograms : {},
    rankedBy: typeof h.ranked_by === "string" ? h.ranked_by : "?",
    rankedHint: directionHint(h.ranked_higher_is_better),
    strips: h.strips, mapArrays: isObject(h.map_arrays) ? h.map_arrays : {},
  };
}

/** "0.2401 ± 0.0030" (half the interval), "0.2401" without one, "n/a" without a mean. */
export function meanText(c) {
  if (c.mean === null) return "n/a";
  return c.low === null || c.high === null ? fmt(c.mean, 4) : `${fmt(c.mean, 4)} ± ${fmt((c.high - c.low) / 2, 4)}`;
}

function table(data) {
  const head = el("tr");
  head.append(el("th", { scope: "col", class: "kv-cmp-method" }, "method"));
  data.metrics.forEach((metric, j) => {
    const th = el("th", { scope: "col", class: "kv-cmp-metric", dataset: { metric } }, metric.replace(/_/g, " "));
    const hint = data.hints[j];
    if (hint) th.append(el("span", { class: "kv-direction", title: hint.words, dataset: { direction: hint.direction } }, `${hint.arrow} ${hint.direction}`));
    head.append(th);
  });
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  data.methods.forEach((method, i) => {
    const row = el("tr", { dataset: { method } });
    row.append(el("th", { scope: "row", class: "kv-cmp-method" }, method));
    data.metrics.forEach((metric, j) => {
      const c = data.cells[i][j];
      row.append(el("td", { class: "kv-cmp-value", dataset: { metric },
        title: c.mean === null ? "undefined on every image" : `95 % t-interval [${fmt(c.low, 4)}, ${fmt(c.high, 4)}], n = ${c.n}` }, meanText(c)));
    });
    tbody.append(row);
  });
  const node = el("table", { class: "kv-comparison kv-ds-table", id: "kv-ds-table" });
  node.append(thead, tbody);
  return node;
}

/** A small SVG histogram of `{edges, counts, nan}`; null when the entry is malformed. */
export function histogram(entry, title) {
  if (!isObject(entry) || !Array.isArray(entry.counts) || !Array.isArray(entry.edges)
      || entry.edges.length !== entry.counts.length + 1 || !entry.counts.every((c) => Number.isInteger(c) && c >= 0)) return null;
  const node = svg("svg", { width: HIST_W, height: HIST_H, class: "kv-ds-hist", role: "img" });
  node.append(svg("title", {}, title));
  const top = Math.max(1, ...entry.counts);
  const w = HIST_W / entry.counts.length;
  entry.counts.forEach((c, b) => {
    const h = (c / top) * (HIST_H - 2);
    node.append(svg("rect", { x: (b * w).toFixed(2), y: (HIST_H - h).toFixed(2), width: Math.max(0.5, w - 1).toFixed(2),
      height: h.toFixed(2), class: "kv-ds-bar", "data-count": c }));
  });
  return node;
}

function histograms(data) {
  const box = el("div", { class: "kv-ds-hists", id: "kv-ds-hists" });
  for (const metric of data.metrics) {
    const row = el("div", { class: "kv-ds-hist-row", dataset: { metric } });
    row.append(el("div", { class: "kv-ds-hist-metric" }, metric.replace(/_/g, " ")));
    for (const method of data.methods) {
      const entry = isObject(data.histograms[method]) ? data.histograms[method][metric] : null;
      const edges = entry && Array.isArray(entry.edges) ? entry.edges : [];
      const plot = histogram(entry, `${method}, ${metric}`);
      const cell = el("figure", { class: "kv-ds-hist-cell", dataset: { method, metric } });
      const nan = entry && Number.isInteger(entry.nan) && entry.nan > 0 ? ` · ${entry.nan} undefined` : "";
      cell.append(plot || el("span", { class: "kv-error" }, "no histogram"),
        el("figcaption", {}, `${method}: ${fmt(edges[0])} … ${fmt(edges[edges.length - 1])}${nan}`));
      row.append(cell);
    }
    box.append(row);
  }
  return box;
}

/** Paints image `row` of the record with map `k` of `decoded` over it (min-max per map, inferno). */
async function paint(canvas, url, decoded, k) {
  const image = await loadImage(url);
  const [, h, w] = decoded.shape;
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const scale = Math.max(1, Math.ceil(THUMB / Math.max(canvas.width, canvas.height)));
  canvas.style.width = `${canvas.width * scale}px`; canvas.style.height = `${canvas.height * scale}px`;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(image, 0, 0);
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  layer.getContext("2d").putImageData(colorize(decoded.q, k * h * w, w, h, "inferno"), 0, 0);
  context.globalAlpha = ALPHA;
  context.imageSmoothingEnabled = true;
  context.drawImage(layer, 0, 0, canvas.width, canvas.height);
  context.globalAlpha = 1;
  canvas.dataset.painted = "overlay";
}

/** The best and the worst images of method `chosen`, each with its map over it: `{rows, painting}` (the paints' promises). */
function strips(record, data, chosen, url) {
  const rows = [];
  const painting = [];
  const decoded = decodeArray(record.arrays[data.mapArrays[chosen]]);
  const images = record.arrays.images;
  const ends = isObject(data.strips[chosen]) ? data.strips[chosen] : {};
  for (const end of ["best", "worst"]) {
    const part = isObject(ends[end]) ? ends[end] : {};
    const list = ["rows", "map_rows", "index", "value"].every((key) => Array.isArray(part[key])) ? part : null;
    const row = el("div", { class: "kv-ds-strip-row", dataset: { end } });
    row.append(el("div", { class: "kv-ds-strip-title" }, end));
    if (!list || !decoded || !decoded.q || decoded.shape.length !== 3 || !images || images.encoding !== "image") {
      row.append(el("span", { class: "kv-error" }, `no ${end} images for ${chosen} in this record`));
    } else {
      list.rows.forEach((r, k) => {
        const m = list.map_rows[k];
        if (!Number.isInteger(r) || r < 0 || r >= images.shape[0] || !Number.isInteger(m) || m < 0 || m >= decoded.shape[0]) return;
        const figure = el("figure", { class: "kv-ds-item", dataset: { index: String(list.index[k]) } });
        const canvas = el("canvas", { class: "kv-ds-canvas" });
        painting.push(paint(canvas, url(r), decoded, m).catch(() => { canvas.dataset.painted = "failed"; }));
        figure.append(canvas, el("figcaption", {}, `#${list.index[k]} · ${fmt(list.value[k], 4)}`));
        row.append(figure);
      });
    }
    rows.push(row);
  }
  return { rows, painting };
}

function mount(host, api) {
  const follow = follower(api, { what: "dataset summary", records: new Records(api, 8) });
  let selection = null;
  let chosen = null; // the method of the strip, kept across steps and runs
  const info = el("div", { class: "kv-act-info", id: "kv-ds-info" });
  const tableBox = el("div", { class: "kv-comparison-box", id: "kv-ds-table-box" });
  const histBox = el("div", { id: "kv-ds-hist-box" });
  const method = el("select", { id: "kv-ds-method", "aria-label": "method" });
  const controls = el("div", { class: "kv-controls" });
  controls.append(el("label", { class: "kv-field", for: "kv-ds-method" }, "Method"), method);
  const strip = el("div", { class: "kv-ds-strip", id: "kv-ds-strip" });
  host.append(info, tableBox, histBox, controls, strip);
  method.addEventListener("change", () => { chosen = method.value; show(); });

  function fail(message) {
    info.replaceChildren(); tableBox.replaceChildren(); histBox.replaceChildren();
    showError(strip, message);
  }

  async function show() {
    const shown = await follow.show(selection, selection.series.find((s) => s.method === "explanations") || selection.series[0]);
    if (!shown) return;
    if (shown.error) { fail(shown.error); return; }
    const { series, step, record, signal } = shown;
    const data = readDataset(record.header);
    if (data.error) { fail(`${series.tag}: ${data.error}`); return; }
    if (!data.methods.includes(chosen)) chosen = data.methods[0];
    method.replaceChildren(...data.methods.map((m) => el("option", { value: m }, m)));
    method.value = chosen;
    info.replaceChildren(...infoParts(`${data.n === null ? "?" : data.n} images`, [`${data.methods.length} methods`,
      data.metrics.length ? "mean ± half the 95 % t-interval" : "no metrics in this run",
      `best and worst by ${data.rankedBy.replace(/_/g, " ")}${data.rankedHint ? ` (${data.rankedHint.words})` : ""}`],
    step, selection));
    tableBox.replaceChildren(...(data.metrics.length ? [table(data)] : []));
    histBox.replaceChildren(...(data.metrics.length ? [histograms(data)] : []));
    const url = (r) => routeURL("image", { run: selection.run, tag: series.tag, step, array: "images", index: r });
    const { rows, painting } = strips(record, data, chosen, url);
    strip.replaceChildren(...rows);
    await Promise.all(painting);
    if (signal.aborted) return;
    host.dataset.shown = `${selection.run}|${step}|${chosen}`; // what is shown (tests wait on it)
  }

  return {
    update(next) { selection = next; show(); },
    destroy() { follow.cancel(); host.replaceChildren(); },
  };
}
