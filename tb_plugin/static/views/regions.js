// The "regions" family: a segmentation model explained region by region
// (`kerasviz.explain_regions(...).write(images)`). Per record (tag `kerasviz/regions/<method>`):
// `images` (uint8 [N, H, W, C]), `masks` ([N, R, h, w], 0/1: each image's region of each class
// of `header.classes`) and `maps` ([N, R, h', w'], the map of each region). Per image, the
// image with its regions outlined in one colour per class, and the chosen region's map over
// the image; a click on a region (or on its button) chooses it. Names go in as text.

import { el, routeURL, decodeArray, loadImage, className } from "../common.js";
import { colorize } from "../colormaps.js";
import { Records, recordAt, seriesBlocks, showError, fromStep } from "./toolkit.js";

export default { family: "regions", title: "Regions", mount };

const COLORS = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [23, 190, 207]];
const CELL = 200; // CSS pixels per picture
const MAX_IMAGES = 32;

function cssColor(r, alpha = 1) {
  const [red, green, blue] = COLORS[r % COLORS.length];
  return `rgba(${red},${green},${blue},${alpha})`;
}

/** Per image, the regions it has: [{r, count}] with `count` the positions of region r. */
function presentRegions(masks, i) {
  const [, regions, h, w] = masks.shape;
  const found = [];
  for (let r = 0; r < regions; r++) {
    let count = 0;
    const offset = (i * regions + r) * h * w;
    for (let j = 0; j < h * w; j++) count += masks.value(offset + j) > 0 ? 1 : 0;
    if (count) found.push({ r, count });
  }
  return found;
}

/** The region (index r) at a click (x, y in [0, 1) of the picture), or -1. */
function regionAt(masks, i, x, y) {
  const [, regions, h, w] = masks.shape;
  const row = Math.min(h - 1, Math.floor(y * h)), col = Math.min(w - 1, Math.floor(x * w));
  for (let r = 0; r < regions; r++) if (masks.value(((i * regions + r) * h + row) * w + col) > 0) return r;
  return -1;
}

function sizeCanvas(canvas, picture) {
  const aspect = picture.naturalHeight / picture.naturalWidth || 1;
  canvas.width = picture.naturalWidth;
  canvas.height = picture.naturalHeight;
  canvas.style.width = `${CELL}px`;
  canvas.style.height = `${Math.round(CELL * aspect)}px`;
}

/** The image with every region filled lightly in its class colour, the chosen one strongly. */
function paintRegions(canvas, picture, masks, i, chosen) {
  sizeCanvas(canvas, picture);
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  const [, regions, h, w] = masks.shape;
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  const pixels = new ImageData(w, h);
  for (let r = 0; r < regions; r++) {
    const [red, green, blue] = COLORS[r % COLORS.length];
    const alpha = r === chosen ? 150 : 70;
    for (let j = 0; j < h * w; j++) {
      if (masks.value((i * regions + r) * h * w + j) > 0) {
        pixels.data.set([red, green, blue, alpha], j * 4);
      }
    }
  }
  layer.getContext("2d").putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(layer, 0, 0, canvas.width, canvas.height);
}

/** The image blended with region r's map (inferno, each map scaled to its own range). */
function paintMap(canvas, picture, maps, i, r) {
  sizeCanvas(canvas, picture);
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  const [, regions, h, w] = maps.shape;
  const slice = i * regions + r;
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  const constant = maps.lo && maps.hi && maps.lo[slice] === maps.hi[slice];
  if (!constant && maps.q) layer.getContext("2d").putImageData(colorize(maps.q, slice * h * w, w, h, "inferno"), 0, 0);
  context.globalAlpha = constant ? 0 : 0.65;
  context.drawImage(layer, 0, 0, canvas.width, canvas.height);
  context.globalAlpha = 1;
  canvas.dataset.painted = String(r);
  return !constant;
}

function mount(host, api) {
  const records = new Records(api);
  const box = el("div", { class: "kv-regions", id: "kv-regions" });
  host.append(box);

  function imageCard(selection, series, step, header, masks, maps, i) {
    const classes = Array.isArray(header.classes) ? header.classes : [];
    const present = presentRegions(masks, i);
    const card = el("figure", { class: "kv-region-card", dataset: { image: String(i) } });
    const regionsCanvas = el("canvas", { class: "kv-region-picture", title: "click a region to explain it" });
    const mapCanvas = el("canvas", { class: "kv-region-map" });
    const caption = el("figcaption", { class: "kv-region-caption" });
    const buttons = el("div", { class: "kv-region-buttons" });
    const pictures = el("div", { class: "kv-region-pictures" });
    pictures.append(regionsCanvas, mapCanvas);
    card.append(pictures, buttons, caption);
    if (!present.length) {
      caption.textContent = `image ${i}: no region`;
      return card;
    }
    const url = routeURL("image", { run: selection.run, tag: series.tag, step, array: "images", index: i });
    let picture = null;
    const choose = (r) => {
      card.dataset.chosen = String(classes[r]);
      for (const button of buttons.children) button.setAttribute("aria-pressed", String(Number(button.dataset.region) === r));
      const count = present.find((p) => p.r === r).count;
      caption.textContent = `image ${i}: why ${className(header, classes[r])} here (${count} positions)`;
      if (!picture) return;
      paintRegions(regionsCanvas, picture, masks, i, r);
      if (!paintMap(mapCanvas, picture, maps, i, r)) caption.textContent += ": the map is constant";
    };
    for (const { r } of present) {
      const button = el("button", { type: "button", class: "kv-region-button", dataset: { region: String(r) } },
        className(header, classes[r]));
      button.style.borderColor = cssColor(r);
      button.addEventListener("click", () => choose(r));
      buttons.append(button);
    }
    regionsCanvas.addEventListener("click", (event) => {
      const bounds = regionsCanvas.getBoundingClientRect();
      const r = regionAt(masks, i, (event.clientX - bounds.left) / bounds.width, (event.clientY - bounds.top) / bounds.height);
      if (r >= 0) choose(r);
    });
    // The largest region first: what the image is mostly predicted as.
    const first = present.reduce((a, b) => (b.count > a.count ? b : a)).r;
    choose(first);
    loadImage(url).then((loaded) => { picture = loaded; choose(Number(buttons.querySelector("[aria-pressed='true']").dataset.region)); })
      .catch(() => showError(card, "The image could not be loaded."));
    return card;
  }

  async function block(selection, series, signal) {
    const section = el("section", { class: "kv-regions-record", dataset: { method: series.method, tag: series.tag } });
    section.append(el("h3", {}, `${series.method} (${series.tag})`));
    const { step, record, error } = await recordAt(selection, series, signal, { what: "record of this series", records });
    if (error) {
      if (!signal.aborted) showError(section, error);
      return section;
    }
    const header = record.header || {};
    const masks = decodeArray(record.arrays.masks), maps = decodeArray(record.arrays.maps);
    const images = record.arrays.images;
    if (!masks || !maps || masks.unavailable || maps.unavailable || masks.shape.length !== 4 || maps.shape.length !== 4
        || !images || images.encoding !== "image") {
      showError(section, "This record needs `images`, `masks` [N, R, h, w] and `maps` [N, R, h, w].");
      return section;
    }
    const info = el("div", { class: "kv-synth-info" });
    info.append(el("span", {}, "Each image's predicted regions, a colour per class; click a region to see its map."));
    const older = fromStep(step, selection);
    if (older) info.append(older);
    section.append(info);
    const gallery = el("div", { class: "kv-regions-images" });
    for (let i = 0; i < Math.min(images.shape[0], MAX_IMAGES); i++) {
      gallery.append(imageCard(selection, series, step, header, masks, maps, i));
    }
    section.append(gallery);
    section.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
    return section;
  }

  return seriesBlocks(host, box, block);
}
