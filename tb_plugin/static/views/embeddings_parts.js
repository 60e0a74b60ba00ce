// The embeddings view's arithmetic: class colours, the text shown for a point,
// the plot's view transform and which level-of-detail tiles it needs (the
// plugin's /embedding_tile quadtree, see tb_plugin/embedding_tiles.py). Pure
// functions, no DOM.

import { className } from "../common.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
export const TILE_PX = 384; // a tile is drawn at most this many CSS pixels a side: finer levels as one zooms in

/** The colour of class k (grey for none): ten distinct colours, then hues spread by the golden angle. */
export function classColor(k) {
  if (k === null || k === undefined || !Number.isInteger(k) || k < 0) return "#9e9e9e";
  return k < PALETTE.length ? PALETTE[k] : `hsl(${(k * 137.508) % 360}, 60%, 48%)`;
}

export function projectionName(header) {
  return header.projection === "tsne" ? "t-SNE" : header.projection === "pca" ? "PCA" : String(header.projection || "projection");
}

/** The lines shown for a point `{index, label, prediction, probability}` (null fields left out). */
export function pointLines(header, p) {
  const out = [`#${p.index}`];
  const has = (v) => v !== null && v !== undefined && v >= 0;
  if (has(p.label)) out.push(`true  ${className(header, p.label)}`);
  if (has(p.prediction)) {
    const q = typeof p.probability === "number" ? ` · ${(100 * p.probability).toFixed(1)}%` : "";
    out.push(`pred  ${className(header, p.prediction)}${q}`);
  }
  if (has(p.label) && has(p.prediction)) out.push(p.label === p.prediction ? "correct" : "misclassified");
  return out;
}

/** The view that shows all of `bounds` [x0, y0, x1, y1] in a width x height plot, with `pad` pixels around. */
export function fitView(bounds, width, height, pad) {
  const [x0, y0, x1, y1] = bounds;
  const scale = Math.min((width - 2 * pad) / Math.max(x1 - x0, 1e-12), (height - 2 * pad) / Math.max(y1 - y0, 1e-12));
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale, width, height };
}

/** Plot pixels of data point (x, y): one scale for both axes (distances keep their meaning), y up. */
export function toScreen(view, x, y) {
  return [view.width / 2 + (x - view.cx) * view.scale, view.height / 2 - (y - view.cy) * view.scale];
}

export function toData(view, sx, sy) {
  return [view.cx + (sx - view.width / 2) / view.scale, view.cy - (sy - view.height / 2) / view.scale];
}

/** The view zoomed by `factor` around plot pixel (sx, sy), which stays over the same data point. */
export function zoomView(view, factor, sx, sy) {
  const [x, y] = toData(view, sx, sy);
  const scale = view.scale * factor;
  return { ...view, scale, cx: x - (sx - view.width / 2) / scale, cy: y + (sy - view.height / 2) / scale };
}

/** The level whose tiles are at most TILE_PX on screen (0 when the whole map is that small). */
export function levelFor(view, bounds, maxLevel) {
  const span = Math.max(bounds[2] - bounds[0], bounds[3] - bounds[1]) * view.scale; // the map's size in pixels
  const level = Math.ceil(Math.log2(Math.max(span / TILE_PX, 1)));
  return Math.max(0, Math.min(maxLevel, level));
}

/** The tiles `{level, tx, ty}` of `level` that the view shows (none when it shows no part of the map). */
export function visibleTiles(view, bounds, level) {
  const [x0, y0, x1, y1] = bounds;
  const side = 2 ** level;
  const [ax, ay] = toData(view, 0, view.height); // lower left
  const [bx, by] = toData(view, view.width, 0); // upper right
  const column = (x) => Math.floor(((x - x0) / (x1 - x0)) * side);
  const row = (y) => Math.floor(((y - y0) / (y1 - y0)) * side);
  const c0 = Math.max(0, column(ax)), c1 = Math.min(side - 1, column(bx));
  const r0 = Math.max(0, row(ay)), r1 = Math.min(side - 1, row(by));
  const tiles = [];
  for (let ty = r0; ty <= r1; ty++) for (let tx = c0; tx <= c1; tx++) tiles.push({ level, tx, ty });
  return tiles;
}

export function tileKey(t) {
  return `${t.level}/${t.tx}/${t.ty}`;
}

/** The ancestors of a tile, nearest first, down to level 0. */
export function ancestors(t) {
  const out = [];
  for (let level = t.level - 1; level >= 0; level--) {
    const shift = t.level - level;
    out.push({ level, tx: t.tx >> shift, ty: t.ty >> shift });
  }
  return out;
}
