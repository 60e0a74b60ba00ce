// Feature maps (records `kerasviz/features/feature_maps/<layer>`): per probe image a
// row with the image (array `images`, uint8 [B, H, W, C]) and its maps (array `maps`,
// float [B, K, h, w], one per channel of header `channels` [K]) as a grid of canvases
// labelled with the channel and its mean activation there. The maps of one image
// are scaled together (its smallest to its largest value), so tiles compare.

import { el, routeURL, fmt, decodeArray } from "../common.js";
import { COLORMAPS, colorize } from "../colormaps.js";
import { layerView, showError } from "./toolkit.js";

const MAX_ROWS = 64;
const TILE = 72; // CSS pixels a map is drawn at, at least

/** Levels 0..255 of image `b`'s K maps, scaled together; and each map's mean. */
export function scaledMaps(decoded, b) {
  const [, K, h, w] = decoded.shape;
  const size = h * w;
  const values = new Float64Array(K * size);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < K * size; i++) {
    const v = decoded.value(b * K * size + i);
    values[i] = v;
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  const span = hi > lo ? hi - lo : 0;
  const levels = new Uint8Array(K * size);
  const means = [];
  for (let k = 0; k < K; k++) {
    let sum = 0;
    for (let i = k * size; i < (k + 1) * size; i++) {
      sum += values[i];
      levels[i] = span ? Math.round(((values[i] - lo) / span) * 255) : 0;
    }
    means.push(sum / size);
  }
  return { levels, means, size, lo, hi };
}

export function featureMapsView(host, api, records) {
  const colormap = el("select", { id: "kv-fmaps-colormap", "aria-label": "colormap" });
  colormap.append(...COLORMAPS.map((name) => el("option", { value: name }, name)));
  const rows = el("div", { class: "kv-fmaps-rows", id: "kv-fmaps-rows" });
  const view = layerView(host, api, {
    id: "kv-fmaps", what: "feature maps of this layer", records, errors: rows, body: [rows], draw,
    controls: [el("label", { class: "kv-field", for: "kv-fmaps-colormap" }, "Colormap"), colormap],
  });
  colormap.addEventListener("change", () => view.refresh());

  function draw({ selection, series, step, record }) {
    const header = record.header || {};
    const images = record.arrays.images;
    const decoded = decodeArray(record.arrays.maps);
    const channels = Array.isArray(header.channels) ? header.channels : [];
    if (!images || images.encoding !== "image" || !decoded || decoded.unavailable || decoded.shape.length !== 4
        || decoded.shape[0] !== images.shape[0] || decoded.shape[1] !== channels.length) {
      view.info.replaceChildren();
      showError(rows, "This record needs `images` [B, H, W, C], `maps` [B, K, h, w] and K header `channels`.");
      return;
    }
    const [B, K, h, w] = decoded.shape;
    const parts = [`${K} channels, ${h}×${w} positions`];
    if (header.chosen) parts.push(`channels: ${header.chosen}`);
    parts.push("each image's maps scaled together; label: channel · mean activation");
    view.describe(`layer ${header.layer || "?"}`, parts, step);
    const scale = Math.max(1, Math.ceil(TILE / Math.max(h, w)));
    const built = [];
    for (let b = 0; b < Math.min(B, MAX_ROWS); b++) {
      const { levels, means, size, lo, hi } = scaledMaps(decoded, b);
      const row = el("div", { class: "kv-fmaps-row", dataset: { image: String(b) } });
      const input = el("figure", { class: "kv-fmaps-input" });
      input.append(el("img", { src: routeURL("image", { run: selection.run, tag: series.tag, step, array: "images", index: b }),
        alt: `probe image ${b}` }), el("figcaption", {}, `image ${b}: ${fmt(lo)} … ${fmt(hi)}`));
      const grid = el("div", { class: "kv-fmaps-grid" });
      for (let k = 0; k < K; k++) {
        const canvas = el("canvas", { width: w, height: h, class: "kv-fmaps-map", dataset: { channel: String(channels[k]) } });
        canvas.style.width = `${w * scale}px`;
        canvas.style.height = `${h * scale}px`;
        canvas.getContext("2d").putImageData(colorize(levels, k * size, w, h, colormap.value), 0, 0);
        const cell = el("figure", { class: "kv-fmaps-cell" });
        cell.append(canvas, el("figcaption", {}, `ch ${channels[k]} · ${fmt(means[k])}`));
        grid.append(cell);
      }
      row.append(input, grid);
      built.push(row);
    }
    rows.replaceChildren(...built);
    host.dataset.shown = `${selection.run}|${series.tag}|${step}|${colormap.value}`; // what is shown (tests wait on it)
  }

  return view;
}
