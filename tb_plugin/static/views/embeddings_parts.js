// Reading embeddings records: the record's arrays checked against its header,
// class colours and the text shown for a point. Pure functions, no DOM.

import { decodeArray, className } from "../common.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MAX_SPRITE = 8192; // the plugin's largest sprite side

/** The colour of class k (grey for none): ten distinct colours, then hues spread by the golden angle. */
export function classColor(k) {
  if (k === null || k === undefined || !Number.isInteger(k) || k < 0) return "#9e9e9e";
  return k < PALETTE.length ? PALETTE[k] : `hsl(${(k * 137.508) % 360}, 60%, 48%)`;
}

export function projectionName(header) {
  return header.projection === "tsne" ? "t-SNE" : header.projection === "pca" ? "PCA" : String(header.projection || "projection");
}

/** The record's arrays and header checked against each other; throws Error with a readable message. */
export function decodeEmbeddings(record) {
  const header = record.header;
  const coords = decodeArray(record.arrays.coords);
  if (!coords || coords.unavailable || coords.shape.length !== 2 || coords.shape[1] !== 2 || !coords.shape[0]) {
    throw new Error(`This record's \`coords\` are not [N, 2] numbers (${record.arrays.coords ? JSON.stringify(record.arrays.coords.shape) : "missing"}).`);
  }
  const n = coords.shape[0];
  const list = (key, kind) => {
    const value = header[key];
    if (value === undefined || value === null) return null;
    if (!Array.isArray(value) || value.length !== n) {
      throw new Error(`The header's \`${key}\` holds ${Array.isArray(value) ? value.length : "no list of"} entries for ${n} points.`);
    }
    return value.map((v) => (typeof v === "number" && isFinite(v) ? (kind === "int" ? Math.round(v) : v) : null));
  };
  const xy = [];
  for (let i = 0; i < n; i++) xy.push([coords.value(2 * i), coords.value(2 * i + 1)]);
  const notes = [];
  if (record.arrays.coords.nonfinite) notes.push(`${record.arrays.coords.nonfinite} non-finite coordinates (drawn at the lower edge)`);
  const nb = decodeArray(record.arrays.neighbors);
  let neighbors = null;
  if (nb && nb.values && nb.shape.length === 2 && nb.shape[0] === n) {
    const k = nb.shape[1];
    neighbors = [];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const row = [];
      for (let j = 0; j < k; j++) {
        const v = nb.values[i * k + j];
        if (Number.isInteger(v) && v >= 0 && v < n && v !== i) row.push(v); else bad++;
      }
      neighbors.push(row);
    }
    if (bad) notes.push(`${bad} neighbour indices out of range, left out`);
  } else {
    notes.push("no nearest neighbours in this record");
  }
  const th = record.arrays.thumbnails;
  let thumbnails = th && th.encoding === "image" && th.shape.length >= 3 && th.shape[0] === n
    ? { h: th.shape[1], w: th.shape[2], columns: Math.ceil(Math.sqrt(n)) } : null;
  if (thumbnails && Math.max(thumbnails.columns * thumbnails.w, Math.ceil(n / thumbnails.columns) * thumbnails.h) > MAX_SPRITE) {
    notes.push("too many thumbnails for one sprite: points only");
    thumbnails = null;
  }
  return {
    record, header, n, xy, notes, neighbors, thumbnails,
    labels: list("labels", "int"), predictions: list("predictions", "int"), probabilities: list("probabilities", "float"),
  };
}

/** The lines shown for point i: index, true class, prediction with its probability, verdict. */
export function pointLines(data, i) {
  const out = [`#${i}`];
  if (data.labels) out.push(`true  ${className(data.header, data.labels[i])}`);
  if (data.predictions) {
    const p = data.probabilities ? data.probabilities[i] : null;
    out.push(`pred  ${className(data.header, data.predictions[i])}${p === null ? "" : ` · ${(100 * p).toFixed(1)}%`}`);
  }
  if (data.labels && data.predictions) out.push(data.labels[i] === data.predictions[i] ? "correct" : "misclassified");
  return out;
}
