// Reading attribution records: labels, probabilities, targets, parameters and
// where a map lies on its image. Pure functions, no DOM.

import { className } from "../common.js";

/**
 * The grid a map's scores lie on, `{patch: [h, w], stride: [h, w]}` in pixels, or null for a map per pixel.
 * Records carry it as `grid` (the method's registry record says it); older ones named the occluder in their
 * params (stride half the patch when not given).
 */
export function gridOf(header) {
  const source = header.grid || (header.params && header.params.patch != null ? header.params : null);
  if (!source) return null;
  const pair = (v) => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)]);
  const patch = pair(source.patch);
  const stride = source.stride == null ? patch.map((p) => Math.max(1, Math.floor(p / 2))) : pair(source.stride);
  return [...patch, ...stride].every((v) => v > 0 && isFinite(v)) ? { patch, stride } : null;
}

export function isGrid(header) {
  return gridOf(header) !== null;
}

/** Whether the map's low values mark what matters (the writer says so; grid scores in older records). */
export function lowerIsImportant(header) {
  return typeof header.lower_is_important === "boolean" ? header.lower_is_important : isGrid(header);
}

/**
 * Where a map lies on its image, as fractions [x0, y0, width, height]. A grid
 * cell is drawn around its occluder's centre: position k covers
 * [k * stride + (patch - stride) / 2, + stride) pixels.
 */
export function placement(header, mapShape, imageShape) {
  const grid = gridOf(header);
  if (!grid || !imageShape) return [0, 0, 1, 1];
  const [[ph, pw], [sh, sw]] = [grid.patch, grid.stride];
  const [nY, nX] = mapShape.slice(-2);
  const [H, W] = imageShape.slice(1, 3);
  const y0 = (ph - sh) / 2, x0 = (pw - sw) / 2;
  return [x0 / W, y0 / H, Math.min(nX * sw, W - x0) / W, Math.min(nY * sh, H - y0) / H];
}

export function labelLines(header, i) {
  const lines = [];
  const label = at(header.labels, i), pred = at(header.predictions, i);
  if (label !== null) lines.push(["kv-true", `true ${className(header, label)}${percent(probability(header, i, label))}`]);
  if (pred !== null) lines.push(["kv-pred", `pred ${className(header, pred)}${percent(probability(header, i, pred))}`]);
  return lines;
}

export function at(list, i) {
  return Array.isArray(list) && list[i] !== undefined && list[i] !== null ? list[i] : null;
}

export function percent(p) {
  return p === null ? "" : ` · ${(100 * p).toFixed(1)}%`;
}

/** The probability of class `cls` for image i, from whatever the record holds. */
export function probability(header, i, cls) {
  const probs = at(header.probabilities, i);
  if (Array.isArray(probs)) return typeof probs[cls] === "number" ? probs[cls] : null;
  if (typeof probs === "number" && cls === at(header.predictions, i)) return probs;
  if (cls === at(header.predictions, i) && typeof at(header.predicted_probability, i) === "number") return header.predicted_probability[i];
  if (cls === at(header.labels, i) && typeof at(header.true_probability, i) === "number") return header.true_probability[i];
  return null;
}

/** The class a map explains: the chosen class, the record's target, or the prediction. */
export function targetOf(header, i, chosenClass, hasClasses) {
  if (hasClasses) return chosenClass;
  const t = header.target;
  if (Array.isArray(t)) return at(t, i);
  if (typeof t === "number") return t;
  if (typeof t === "string") {
    const match = /^class (\d+)$/.exec(t);
    if (match) return Number(match[1]);
    if (t !== "predicted class") return t; // described in words by the writer
  }
  return at(header.predictions, i);
}

/** A parameter as text: `name=value`, objects as JSON. */
function param(name, value) {
  return `${name}=${typeof value === "object" ? JSON.stringify(value) : value}`;
}

/**
 * Short notes on how a map was computed: occluder size and stride, every parameter
 * (the value range first: it says how the pixels were read), the layer.
 */
export function describe(header, maps) {
  const notes = [];
  const params = { ...(header.params || {}) };
  if (params.value_range === undefined && Array.isArray(header.value_range)) params.value_range = header.value_range;
  const grid = gridOf(header);
  if (maps && grid) {
    const size = (v) => (v[0] === v[1] ? `${v[0]}` : v.join("×"));
    notes.push(`occluder ${grid.patch.join("×")} px, stride ${size(grid.stride)}`);
    notes.push(`${maps.shape[maps.shape.length - 2]}×${maps.shape[maps.shape.length - 1]} positions`);
    delete params.patch;
    delete params.stride;
  }
  const entries = Object.entries(params).filter(([, v]) => v !== null && v !== undefined)
    .sort(([a], [b]) => (b === "value_range") - (a === "value_range"));
  if (entries.length) notes.push(entries.map(([k, v]) => param(k, v)).join(", "));
  if (header.layer) notes.push(`layer ${header.layer}`);
  return notes;
}

/** `{arrow, words, direction}` for a metric whose higher values are better (true) or worse (false); null if unknown. */
export function directionHint(higherIsBetter) {
  if (typeof higherIsBetter !== "boolean") return null;
  return higherIsBetter
    ? { arrow: "\u2191", words: "higher is better", direction: "higher" }
    : { arrow: "\u2193", words: "lower is better", direction: "lower" };
}
