// Colormaps computed on the client from anchor colours (no libraries):
// piecewise-linear interpolation into a 256-entry lookup table.

const ANCHORS = {
  inferno: [[0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
    [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164]],
  viridis: [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
    [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]],
  jet: [[0, 0, 128], [0, 0, 255], [0, 128, 255], [0, 255, 255], [128, 255, 128],
    [255, 255, 0], [255, 128, 0], [255, 0, 0], [128, 0, 0]],
  gray: [[0, 0, 0], [255, 255, 255]],
};

export const COLORMAPS = Object.keys(ANCHORS);

const tables = new Map();

/** The 256 x RGB lookup table of a colormap (Uint8ClampedArray of length 768). */
export function lookupTable(name) {
  if (tables.has(name)) return tables.get(name);
  const anchors = ANCHORS[name] || ANCHORS.inferno;
  const table = new Uint8ClampedArray(256 * 3);
  const segments = anchors.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * segments;
    const k = Math.min(Math.floor(t), segments - 1);
    const f = t - k;
    for (let c = 0; c < 3; c++) table[i * 3 + c] = anchors[k][c] + f * (anchors[k + 1][c] - anchors[k][c]);
  }
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
