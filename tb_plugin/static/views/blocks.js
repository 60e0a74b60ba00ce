// The "blocks" family: one image seen through a layer, as "The Building Blocks of
// Interpretability" (Olah et al., 2018) shows it (`kerasviz.inside.building_blocks(...).write()`).
// Per record: `image` (uint8 [1, H, W, C]); `amounts` ([k, h, w], each neuron group's amount at
// each position); `group_attribution` ([k]); `group_images` (uint8 [k, S, S, C], a render of each
// group); `spatial_attribution` ([h, w]); `top_channels` / `top_values` ([h, w, top], each
// position's semantic dictionary); `channel_images` (uint8 [U, S, S, C], renders of the channels
// `header.channels`). The image carries the groups in their colours (or one group's amount, once
// its card is clicked); hovering a position lists its dictionary. Names go in as text.

import { el, routeURL, decodeArray, loadImage, className, fmt } from "../common.js";
import { colorize } from "../colormaps.js";
import { Records, seriesBlocks, seriesSection, showError, fromStep } from "./toolkit.js";

export default { family: "blocks", title: "Building blocks", mount };

const COLORS = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [23, 190, 207], [188, 189, 34], [127, 127, 127]];
const SIDE = 280; // CSS pixels of the image canvases
const ICON = 72; // CSS pixels of a render

function css([r, g, b], alpha = 1) {
  return `rgba(${r},${g},${b},${alpha})`;
}

function imageURL(selection, tag, step, array, index) {
  return routeURL("image", { run: selection.run, tag, step, array, index });
}

function sized(canvas, picture) {
  canvas.width = picture.naturalWidth;
  canvas.height = picture.naturalHeight;
  canvas.style.width = `${SIDE}px`;
  canvas.style.height = `${Math.round(SIDE * (picture.naturalHeight / picture.naturalWidth || 1))}px`;
}

/** The image under the groups: each position in its strongest group's colour (opacity by amount), or one group's amount. */
function paintGroups(canvas, picture, amounts, chosen) {
  sized(canvas, picture);
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  const [k, h, w] = amounts.shape;
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  if (chosen >= 0 && amounts.q) {
    layer.getContext("2d").putImageData(colorize(amounts.q, chosen * h * w, w, h, "inferno"), 0, 0);
    context.globalAlpha = 0.7;
  } else {
    let top = 0;
    for (let i = 0; i < k * h * w; i++) top = Math.max(top, amounts.value(i));
    const pixels = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      let best = 0, group = 0;
      for (let j = 0; j < k; j++) { const v = amounts.value(j * h * w + p); if (v > best) { best = v; group = j; } }
      pixels.data.set([...COLORS[group % COLORS.length], top > 0 ? Math.round(200 * best / top) : 0], p * 4);
    }
    layer.getContext("2d").putImageData(pixels, 0, 0);
  }
  context.imageSmoothingEnabled = false;
  context.drawImage(layer, 0, 0, canvas.width, canvas.height);
  context.globalAlpha = 1;
  canvas.dataset.painted = String(chosen);
}

/** The image under the spatial attribution: red where a position adds to the class score, blue where it takes away. */
function paintAttribution(canvas, picture, spatial) {
  sized(canvas, picture);
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  const [h, w] = spatial.shape;
  let top = 0;
  for (let i = 0; i < h * w; i++) top = Math.max(top, Math.abs(spatial.value(i)));
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  const pixels = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = top > 0 ? spatial.value(i) / top : 0;
    pixels.data.set(v >= 0 ? [214, 39, 40, Math.round(220 * v)] : [31, 119, 180, Math.round(-220 * v)], i * 4);
  }
  layer.getContext("2d").putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(layer, 0, 0, canvas.width, canvas.height);
}

function mount(host, api) {
  const records = new Records(api);
  const box = el("div", { class: "kv-blocks", id: "kv-blocks" });
  host.append(box);

  async function block(selection, series, signal) {
    const { section, step, record } = await seriesSection("kv-blocks-record", selection, series, signal, records);
    if (!record) return section;
    const header = record.header || {};
    const a = record.arrays;
    const amounts = decodeArray(a.amounts), spatial = decodeArray(a.spatial_attribution);
    const attribution = decodeArray(a.group_attribution);
    const topChannels = decodeArray(a.top_channels), topValues = decodeArray(a.top_values);
    const ready = [amounts, spatial, attribution, topChannels, topValues].every((x) => x && !x.unavailable);
    if (!ready || !a.image || a.image.encoding !== "image" || amounts.shape.length !== 3 || topChannels.shape.length !== 3) {
      showError(section, "This record needs `image`, `amounts` [k, h, w], `group_attribution`, `spatial_attribution`, "
        + "`top_channels` and `top_values` [h, w, top].");
      return section;
    }
    const [k, h, w] = amounts.shape;
    const top = topChannels.shape[2];
    const rendered = new Map((Array.isArray(header.channels) ? header.channels : []).map((c, u) => [c, u]));
    const info = el("div", { class: "kv-synth-info" });
    info.append(el("span", {}, `layer ${header.layer}`), el("span", {}, `explaining ${className(header, header.target)}`));
    if (typeof header.residual === "number") info.append(el("span", {}, `attribution outside the groups ${fmt(header.residual)}`));
    if (typeof header.reconstruction_error === "number") info.append(el("span", {}, `NMF error ${fmt(header.reconstruction_error)}`));
    const older = fromStep(step, selection);
    if (older) info.append(older);
    section.append(info);

    const groupsCanvas = el("canvas", { class: "kv-blocks-groups-picture", title: "hover: the position's semantic dictionary" });
    const attributionCanvas = el("canvas", { class: "kv-blocks-attribution" });
    const dictionary = el("div", { class: "kv-blocks-dictionary" });
    dictionary.append(el("div", { class: "kv-note" }, "Hover the image: the channels most active at that position."));
    const pictures = el("div", { class: "kv-blocks-pictures" });
    const groupFigure = el("figure", {}), attributionFigure = el("figure", {});
    groupFigure.append(groupsCanvas, el("figcaption", {}, "neuron groups (click a group: its amount)"));
    attributionFigure.append(attributionCanvas, el("figcaption", {}, "spatial attribution (red: for the class, blue: against)"));
    pictures.append(groupFigure, attributionFigure, dictionary);
    const cards = el("div", { class: "kv-blocks-cards" });
    section.append(pictures, cards);

    let picture = null;
    let chosen = -1;
    const repaint = () => {
      if (!picture) return;
      paintGroups(groupsCanvas, picture, amounts, chosen);
      for (const card of cards.children) card.setAttribute("aria-pressed", String(Number(card.dataset.group) === chosen));
    };
    let biggest = 0;
    for (let j = 0; j < k; j++) biggest = Math.max(biggest, Math.abs(attribution.value(j)));
    for (let j = 0; j < k; j++) {
      const value = attribution.value(j);
      const card = el("button", { type: "button", class: "kv-blocks-group", dataset: { group: String(j) } });
      card.style.borderColor = css(COLORS[j % COLORS.length]);
      const bar = el("span", { class: "kv-blocks-bar" });
      bar.style.width = `${biggest > 0 ? Math.round(60 * Math.abs(value) / biggest) : 0}px`;
      bar.style.background = value >= 0 ? "#d62728" : "#1f77b4";
      card.append(el("img", { src: imageURL(selection, series.tag, step, "group_images", j), alt: `group ${j}`, width: String(ICON) }),
        el("span", { class: "kv-blocks-value" }, `group ${j}: ${fmt(value)}`), bar);
      card.addEventListener("click", () => { chosen = chosen === j ? -1 : j; repaint(); });
      cards.append(card);
    }
    groupsCanvas.addEventListener("mousemove", (event) => {
      const bounds = groupsCanvas.getBoundingClientRect();
      const y = Math.min(h - 1, Math.floor(((event.clientY - bounds.top) / bounds.height) * h));
      const x = Math.min(w - 1, Math.floor(((event.clientX - bounds.left) / bounds.width) * w));
      if (dictionary.dataset.position === `${y},${x}`) return;
      dictionary.dataset.position = `${y},${x}`;
      const items = [el("div", { class: "kv-note" }, `position (${y}, ${x})`)];
      for (let t = 0; t < top; t++) {
        const channel = topChannels.value((y * w + x) * top + t);
        const item = el("div", { class: "kv-blocks-entry", dataset: { channel: String(channel) } });
        if (rendered.has(channel)) {
          item.append(el("img", { src: imageURL(selection, series.tag, step, "channel_images", rendered.get(channel)),
            alt: `channel ${channel}`, width: String(ICON / 1.5) }));
        }
        item.append(el("span", {}, `channel ${channel}: ${fmt(topValues.value((y * w + x) * top + t))}`));
        items.push(item);
      }
      dictionary.replaceChildren(...items);
    });
    loadImage(imageURL(selection, series.tag, step, "image", 0)).then((loaded) => {
      picture = loaded;
      repaint();
      paintAttribution(attributionCanvas, picture, spatial);
    }).catch(() => showError(section, "The image could not be loaded."));
    section.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
    return section;
  }

  return seriesBlocks(host, box, block);
}
