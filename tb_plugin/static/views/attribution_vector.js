// A side input's attributions in the attribution grid (records of `input_kind` "vector"): for
// one example, a bar per feature, signed (left of the axis negative, right positive), on one
// scale for the whole column (the record's largest magnitude), each labelled with the
// feature's index and the input's value there.

import { el, svg, decodeArray, fmt } from "../common.js";

const WIDTH = 136; // CSS pixels, as an image cell
const ROW = 14; // CSS pixels per feature
const LABEL = 52; // CSS pixels for "index: value" left of the bars
const MAX_FEATURES = 64; // features drawn per cell; the note says how many there are

function rowOf(array, i) {
  const d = array.shape[array.shape.length - 1];
  return Array.from({ length: d }, (_, j) => array.value(i * d + j));
}

/** The column's scale: its largest finite magnitude (1 when all are zero). */
function scaleOf(array) {
  const lo = array.lo ? Math.min(...array.lo) : Math.min(...array.values);
  const hi = array.hi ? Math.max(...array.hi) : Math.max(...array.values);
  const top = Math.max(Math.abs(lo), Math.abs(hi));
  return isFinite(top) && top > 0 ? top : 1;
}

/** The cell of example `i` of a vector record `{series, record}`: an SVG bar chart (class kv-vector-bars). */
export function vectorCell({ series, record }, i) {
  const td = el("td", { class: "kv-cell kv-vector", dataset: { method: series.method } });
  const attributions = decodeArray(record.arrays.attributions);
  const values = decodeArray(record.arrays.values);
  if (!attributions || attributions.unavailable || attributions.shape.length !== 2 || i >= attributions.shape[0]) {
    td.append(el("div", { class: "kv-note" }, attributions && attributions.unavailable
      ? `attributions ${attributions.unavailable}` : "no attributions"));
    return td;
  }
  const row = rowOf(attributions, i);
  const inputs = values && !values.unavailable && values.shape.length === 2 ? rowOf(values, i) : null;
  const shown = row.slice(0, MAX_FEATURES);
  const scale = scaleOf(attributions);
  const half = (WIDTH - LABEL) / 2, axis = LABEL + half;
  const root = svg("svg", { class: "kv-vector-bars", width: WIDTH, height: ROW * shown.length + 2, role: "img",
    "aria-label": `${series.method}: attributions of ${row.length} features` });
  shown.forEach((a, j) => {
    const y = 1 + j * ROW;
    const length = isFinite(a) ? (Math.abs(a) / scale) * half : 0;
    const bar = svg("rect", { class: a < 0 ? "kv-bar-neg" : "kv-bar-pos", x: a < 0 ? axis - length : axis, y: y + 2,
      width: Math.max(length, 0.5), height: ROW - 4, "data-feature": j, "data-value": a });
    bar.append(svg("title", {}, `feature ${j}${inputs ? ` = ${fmt(inputs[j])}` : ""}: attribution ${fmt(a)}`));
    const label = inputs ? `${j}: ${fmt(inputs[j], 2)}` : `${j}`;
    root.append(svg("text", { class: "kv-tick", x: 0, y: y + ROW - 3 }, label), bar);
  });
  root.append(svg("line", { class: "kv-axis", x1: axis, x2: axis, y1: 0, y2: ROW * shown.length + 2 }));
  td.append(root, el("div", { class: "kv-label kv-explains" }, `scale ±${fmt(scale)}`));
  if (row.length > shown.length) td.append(el("div", { class: "kv-note" }, `first ${shown.length} of ${row.length} features`));
  return td;
}
