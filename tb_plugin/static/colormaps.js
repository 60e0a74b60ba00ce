// Colormaps: the 256 colours of each, as `kerasviz.image` has them (colormap_table.js is
// generated from it), so a map is coloured here as in `kerasviz.image.overlay`.

import { TABLES } from "./colormap_table.js";

// The colormaps the dashboard offers: sequential ones, for its min-max 8-bit levels.
export const COLORMAPS = ["inferno", "viridis", "jet", "gray"];

const tables = new Map();

/** The 256 x RGB lookup table of a colormap (Uint8ClampedArray of length 768; inferno for an unknown name). */
export function lookupTable(name) {
  if (tables.has(name)) return tables.get(name);
  const hex = TABLES[name] || TABLES.inferno;
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < table.length; i++) table[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  tables.set(name, table);
  return table;
}

/**
 * Colours one 2-D slice of 8-bit levels into an ImageData.
 * `levels` is a Uint8Array (values 0..255), `offset` the slice start,
 * `remap(level) -> level` an optional rescaling (e.g. to a shared range).
 */
export function colorize(levels, offset, width, height, name, remap = null) {
  const table = lookupTable(name);
  const image = new ImageData(width, height);
  const out = image.data;
  for (let i = 0; i < width * height; i++) {
    let level = levels[offset + i];
    if (remap) level = remap(level);
    out[i * 4] = table[level * 3];
    out[i * 4 + 1] = table[level * 3 + 1];
    out[i * 4 + 2] = table[level * 3 + 2];
    out[i * 4 + 3] = 255;
  }
  return image;
}

/** A horizontal colour bar for a legend, as a canvas. */
export function colorbar(name, width = 120, height = 10) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  canvas.className = "kv-colorbar";
  const context = canvas.getContext("2d");
  const table = lookupTable(name);
  for (let x = 0; x < width; x++) {
    const level = Math.round((x / (width - 1)) * 255);
    context.fillStyle = `rgb(${table[level * 3]},${table[level * 3 + 1]},${table[level * 3 + 2]})`;
    context.fillRect(x, 0, 1, height);
  }
  return canvas;
}
