// Top-patches view: for each channel of a layer, the k input crops that
// excite it most (record arrays `patches` uint8 [C, k, h, w, ch], crops the
// size of the receptive field, padded at image borders; `scores` [C, k];
// `boxes` [C, k, 4] as (y0, x0, y1, x1) in the input image; `image_index`
// [C, k]). Crops come as one sprite (or one per channel when too large).

import { el, routeURL, decodeArray, loadImage, whenVisible, fmt } from "../common.js";
import { layerView, pair, showError, errorText } from "./toolkit.js";

export default { family: "activations", method: "top_patches", title: "Top patches", mount };

const SIZES = [48, 72, 96, 128];
const MAX_SIDE = 8192; // the plugin's largest sprite side

/** The crops, scores, boxes and image indices of a top-patches record; throws for a record without crops. */
function decode(record) {
  const patches = record.arrays.patches;
  if (!patches || patches.encoding !== "sprite" || patches.shape.length !== 5) {
    throw new Error(`This record's \`patches\` are not uint8 crops [C, k, h, w, ch] (${patches ? JSON.stringify(patches.shape) : "missing"}).`);
  }
  const [C, k, h, w] = patches.shape;
  const scores = decodeArray(record.arrays.scores);
  const okScores = scores && !scores.unavailable && scores.shape.length === 2 && scores.shape[0] === C && scores.shape[1] === k;
  const raw = (name, shape) => {
    const a = decodeArray(record.arrays[name]);
    return a && a.values && a.shape.length === shape.length && a.shape.every((v, i) => v === shape[i]) ? a.values : null;
  };
  const channels = Array.isArray(record.header.channels) && record.header.channels.length === C
    ? record.header.channels.map((c) => String(c)) : [...Array(C).keys()].map(String);
  const score = (c, j) => (okScores ? scores.value(c * k + j) : null);
  let best = null;
  for (let c = 0; c < C; c++) for (let j = 0; j < k; j++) {
    const s = score(c, j);
    if (s !== null && isFinite(s) && (best === null || Math.abs(s) > best)) best = Math.abs(s);
  }
  return { record, header: record.header, C, k, h, w, channels, score, best,
    boxes: raw("boxes", [C, k, 4]), index: raw("image_index", [C, k]), whole: C * h <= MAX_SIDE && k * w <= MAX_SIDE };
}

function mount(host, api) {
  const settings = { channel: "all", size: 72 };
  let data = null;
  let stopObservers = [];

  const channel = el("select", { id: "kv-patches-channel", "aria-label": "channel" });
  const size = el("select", { id: "kv-patches-size", "aria-label": "crop size" });
  size.append(...SIZES.map((s) => el("option", { value: String(s) }, `${s} px`)));
  size.value = String(settings.size);
  const rows = el("div", { class: "kv-patch-rows", id: "kv-patches-rows" });
  channel.addEventListener("change", () => { settings.channel = channel.value; drawRows(); });
  size.addEventListener("change", () => { settings.size = Number(size.value); drawRows(); });
  const view = layerView(host, api, {
    id: "kv-patches", what: "top patches of this layer", errors: rows, body: [rows],
    controls: [el("label", { class: "kv-field", for: "kv-patches-channel" }, "Channel"), channel,
      el("label", { class: "kv-field", for: "kv-patches-size" }, "Crop size"), size],
    draw, clear,
    destroy() { for (const stop of stopObservers) stop(); },
  });

  function clear() {
    data = null;
    delete rows.dataset.shown;
    channel.replaceChildren();
    channel.disabled = true;
  }

  function draw({ step, record }) {
    try {
      data = decode(record);
    } catch (error) {
      view.info.replaceChildren();
      clear();
      showError(rows, errorText(error));
      return;
    }
    const header = data.header;
    const field = header.receptive_field || {};
    view.describe(`layer ${header.layer || "?"}`, [
      el("span", { id: "kv-patches-field" }, `receptive field ${pair(field.size)} px, stride ${pair(field.stride)}`),
      `top ${data.k} crops of ${data.C} channels (padded at image borders)`,
    ], step);
    const keep = settings.channel;
    channel.replaceChildren(el("option", { value: "all" }, `all ${data.C} channels`),
      ...data.channels.map((c, row) => {
        const s = data.score(row, 0);
        return el("option", { value: c }, `channel ${c}${s === null ? "" : ` (top ${fmt(s, 2)})`}`);
      }));
    channel.disabled = false;
    settings.channel = keep === "all" || data.channels.includes(keep) ? keep : "all";
    channel.value = settings.channel;
    drawRows();
  }

  function spriteURL(row) {
    const params = { run: data.record.run, tag: data.record.tag, step: data.record.step, array: "patches", columns: data.k };
    if (!data.whole) params.index = row;
    return routeURL("sprite", params);
  }

  function drawRows() {
    for (const stop of stopObservers) stop();
    stopObservers = [];
    if (!data) return;
    const shown = data.channels.map((c, row) => [c, row]).filter(([c]) => settings.channel === "all" || c === settings.channel);
    const width = settings.size, height = Math.max(1, Math.round((settings.size * data.h) / data.w));
    rows.replaceChildren(...shown.map(([c, row]) => {
      const line = el("div", { class: "kv-patch-row", dataset: { channel: c } });
      const head = el("div", { class: "kv-patch-head" });
      head.append(el("div", { class: "kv-act-main" }, `channel ${c}`));
      const top = data.score(row, 0);
      if (top !== null) head.append(el("div", { class: "kv-note" }, `top score ${fmt(top, 2)}`));
      const cells = el("div", { class: "kv-patch-cells" });
      const canvases = [];
      for (let j = 0; j < data.k; j++) {
        const figure = el("figure", { class: "kv-patch", dataset: { rank: String(j) } });
        const canvas = el("canvas", { width: data.w, height: data.h });
        canvas.style.width = `${width}px`;
        canvas.style.height = `${height}px`;
        const s = data.score(row, j);
        const where = [`channel ${c}, #${j + 1}`];
        if (s !== null) where.push(`score ≈ ${fmt(s)}`);
        if (data.index) where.push(`image ${data.index[row * data.k + j]}`);
        if (data.boxes) {
          const b = Array.from(data.boxes.slice((row * data.k + j) * 4, (row * data.k + j + 1) * 4));
          where.push(`rows ${b[0]}–${b[2]}, columns ${b[1]}–${b[3]}`);
        }
        figure.setAttribute("title", where.join("\n"));
        const caption = el("figcaption", {}, s === null ? "–" : fmt(s, 2));
        figure.append(canvas);
        if (s !== null && data.best) {
          const bar = el("div", { class: "kv-patch-bar" });
          bar.style.width = `${Math.max(2, Math.round((100 * Math.abs(s)) / data.best))}%`;
          figure.append(bar);
        }
        figure.append(caption);
        cells.append(figure);
        canvases.push(canvas);
      }
      line.append(head, cells);
      const y = data.whole ? row * data.h : 0;
      stopObservers.push(whenVisible(line, () => {
        loadImage(spriteURL(row)).then((sheet) => {
          canvases.forEach((canvas, j) => {
            canvas.getContext("2d").drawImage(sheet, j * data.w, y, data.w, data.h, 0, 0, data.w, data.h);
            canvas.dataset.painted = "1";
          });
        }).catch(() => { head.append(el("div", { class: "kv-error" }, "crops not loaded")); });
      }));
      return line;
    }));
    rows.dataset.shown = `${data.record.run}|${data.record.tag}|${data.record.step}|${settings.channel}`; // tests wait on it
  }

  return view;
}
