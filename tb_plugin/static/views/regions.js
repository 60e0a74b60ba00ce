// The "regions" family: a segmentation model explained region by region, or a detector box by
// box (`kerasviz.explain_regions(...).write(images)`, `kerasviz.summary.write_regions`). Per record
// (tag `kerasviz/regions/<method>`): `images` (uint8 [N, H, W, C]), either `masks` ([N, R, h, w],
// 0/1: each image's region of each class of `header.classes`) or `boxes` ([N, R, 4], y0, x0, y1,
// x1 in fractions; `header.classes` per image and box), optional `scores` [N, R], and `maps`
// ([N, R, h', w'], the map of each region). Per image, the image with its regions (or boxes) in
// one colour per class, and the chosen one's map over the image; a click on a region (or on its
// button) chooses it: the smallest that holds the point. Names go in as text.

import { el, routeURL, decodeArray, loadImage, className } from "../common.js";
import { colorize } from "../colormaps.js";
import { Records, seriesBlocks, seriesSection, showError, fromStep } from "./toolkit.js";

export default { family: "regions", title: "Regions", mount };

const COLORS = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [23, 190, 207]];
const CELL = 200; // CSS pixels per picture
const MAX_IMAGES = 32;

function cssColor(r, alpha = 1) {
  const [red, green, blue] = COLORS[r % COLORS.length];
  return `rgba(${red},${green},${blue},${alpha})`;
}

/** Per image, its regions from `masks` [N, R, h, w]: [{r, size, contains(x, y), paint(context, width, height, strong)}]. */
function maskRegions(masks, i) {
  const [, regions, h, w] = masks.shape;
  const found = [];
  for (let r = 0; r < regions; r++) {
    const offset = (i * regions + r) * h * w;
    let count = 0;
    for (let j = 0; j < h * w; j++) count += masks.value(offset + j) > 0 ? 1 : 0;
    if (!count) continue;
    found.push({
      r, size: count, what: `${count} positions`,
      contains(x, y) {
        const row = Math.min(h - 1, Math.floor(y * h)), col = Math.min(w - 1, Math.floor(x * w));
        return masks.value(offset + row * w + col) > 0;
      },
      paint(context, width, height, strong) {
        const layer = document.createElement("canvas");
        layer.width = w; layer.height = h;
        const pixels = new ImageData(w, h);
        const [red, green, blue] = COLORS[r % COLORS.length];
        for (let j = 0; j < h * w; j++) if (masks.value(offset + j) > 0) pixels.data.set([red, green, blue, strong ? 150 : 70], j * 4);
        layer.getContext("2d").putImageData(pixels, 0, 0);
        context.imageSmoothingEnabled = false;
        context.drawImage(layer, 0, 0, width, height);
      },
    });
  }
  return found;
}

/** Per image, its boxes from `boxes` [N, R, 4] (y0, x0, y1, x1 in fractions; no area: none), as `maskRegions`. */
function boxRegions(boxes, i) {
  const regions = boxes.shape[1];
  const found = [];
  for (let r = 0; r < regions; r++) {
    const [y0, x0, y1, x1] = [0, 1, 2, 3].map((c) => boxes.value((i * regions + r) * 4 + c));
    const area = Math.max(0, y1 - y0) * Math.max(0, x1 - x0);
    if (!(area > 1e-6)) continue;
    found.push({
      r, size: area, what: `box ${[y0, x0, y1, x1].map((v) => v.toFixed(2)).join(", ")}`,
      contains: (x, y) => y >= y0 && y <= y1 && x >= x0 && x <= x1,
      paint(context, width, height, strong) {
        context.strokeStyle = cssColor(r);
        context.lineWidth = (strong ? 3 : 1.5) * (window.devicePixelRatio || 1);
        context.strokeRect(x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height);
        if (strong) {
          context.fillStyle = cssColor(r, 0.15);
          context.fillRect(x0 * width, y0 * height, (x1 - x0) * width, (y1 - y0) * height);
        }
      },
    });
  }
  return found;
}

/** The region at a click (x, y in [0, 1) of the picture): the smallest that holds it, or null. */
function regionAt(present, x, y) {
  const holding = present.filter((p) => p.contains(x, y));
  return holding.length ? holding.reduce((a, b) => (b.size < a.size ? b : a)) : null;
}

function sizeCanvas(canvas, picture) {
  const ratio = window.devicePixelRatio || 1;
  const aspect = picture.naturalHeight / picture.naturalWidth || 1;
  canvas.width = Math.round(CELL * ratio);
  canvas.height = Math.round(CELL * aspect * ratio);
  canvas.style.width = `${CELL}px`;
  canvas.style.height = `${Math.round(CELL * aspect)}px`;
}

/** The image with every region drawn lightly in its class colour, the chosen one strongly. */
function paintRegions(canvas, picture, present, chosen) {
  sizeCanvas(canvas, picture);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(picture, 0, 0, canvas.width, canvas.height);
  for (const region of present) region.paint(context, canvas.width, canvas.height, region.r === chosen);
}

/** The image blended with region r's map (inferno, each map scaled to its own range). */
function paintMap(canvas, picture, maps, i, r) {
  sizeCanvas(canvas, picture);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(picture, 0, 0, canvas.width, canvas.height);
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

  function imageCard(selection, series, step, header, shapes, scores, maps, i) {
    const classes = Array.isArray(header.classes) ? header.classes : [];
    const classOf = (r) => (Array.isArray(classes[i]) ? classes[i][r] : classes[r]);
    const present = shapes.masks ? maskRegions(shapes.masks, i) : boxRegions(shapes.boxes, i);
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
      card.dataset.chosen = String(classOf(r));
      card.dataset.region = String(r);
      for (const button of buttons.children) button.setAttribute("aria-pressed", String(Number(button.dataset.region) === r));
      const score = scores ? `, score ${scores.value(i * scores.shape[1] + r).toFixed(2)}` : "";
      caption.textContent = `image ${i}: why ${className(header, classOf(r))} here (${present.find((p) => p.r === r).what}${score})`;
      if (!picture) return;
      paintRegions(regionsCanvas, picture, present, r);
      if (!paintMap(mapCanvas, picture, maps, i, r)) caption.textContent += ": the map is constant";
    };
    for (const { r } of present) {
      const button = el("button", { type: "button", class: "kv-region-button", dataset: { region: String(r) } },
        className(header, classOf(r)));
      button.style.borderColor = cssColor(r);
      button.addEventListener("click", () => choose(r));
      buttons.append(button);
    }
    regionsCanvas.addEventListener("click", (event) => {
      const bounds = regionsCanvas.getBoundingClientRect();
      const found = regionAt(present, (event.clientX - bounds.left) / bounds.width, (event.clientY - bounds.top) / bounds.height);
      if (found) choose(found.r);
    });
    // The largest region first (what the image is mostly predicted as); a detector's boxes in their order.
    const first = shapes.masks ? present.reduce((a, b) => (b.size > a.size ? b : a)).r : present[0].r;
    choose(first);
    loadImage(url).then((loaded) => { picture = loaded; choose(Number(buttons.querySelector("[aria-pressed='true']").dataset.region)); })
      .catch(() => showError(card, "The image could not be loaded."));
    return card;
  }

  async function block(selection, series, signal) {
    const { section, step, record } = await seriesSection("kv-regions-record", selection, series, signal, records);
    if (!record) return section;
    const header = record.header || {};
    const masks = decodeArray(record.arrays.masks), boxes = decodeArray(record.arrays.boxes);
    const maps = decodeArray(record.arrays.maps), scores = decodeArray(record.arrays.scores);
    const images = record.arrays.images;
    const shapesOK = masks ? !masks.unavailable && masks.shape.length === 4 : boxes && !boxes.unavailable && boxes.shape.length === 3;
    if (!shapesOK || !maps || maps.unavailable || maps.shape.length !== 4 || !images || images.encoding !== "image") {
      showError(section, "This record needs `images`, `masks` [N, R, h, w] or `boxes` [N, R, 4], and `maps` [N, R, h, w].");
      return section;
    }
    const info = el("div", { class: "kv-synth-info" });
    info.append(el("span", {}, masks ? "Each image's predicted regions, a colour per class; click a region to see its map."
      : "Each image's boxes, a colour per box; click a box to see its map."));
    const older = fromStep(step, selection);
    if (older) info.append(older);
    section.append(info);
    const gallery = el("div", { class: "kv-regions-images" });
    for (let i = 0; i < Math.min(images.shape[0], MAX_IMAGES); i++) {
      gallery.append(imageCard(selection, series, step, header, { masks, boxes }, scores && !scores.unavailable ? scores : null, maps, i));
    }
    section.append(gallery);
    section.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
    return section;
  }

  return seriesBlocks(host, box, block);
}
