// The embeddings view's side panel: the legend of the classes (with counts; a click puts a
// class in focus) and the chosen point with its nearest neighbours in feature space, each
// with its thumbnail. Names go in as text.

import { el, routeURL, loadImage, className } from "../common.js";
import { classColor, pointLines } from "./embeddings_parts.js";

const has = (v) => v !== null && v !== undefined && v >= 0;

/** The legend of the classes of the colouring `colorBy` (true or predicted class), the class `focus` pressed. */
export function drawLegend(legend, info, { colorBy, focus }, onFocus) {
  const counts = info.counts[colorBy] || {};
  const names = Array.isArray(info.header.class_names) ? info.header.class_names : [];
  const classes = [...new Set([...names.map((_, k) => k), ...Object.keys(counts).map(Number)])].sort((a, b) => a - b);
  const title = el("div", { class: "kv-field" }, colorBy === "prediction" ? "Predicted class" : "True class");
  const items = classes.slice(0, 60).map((k) => {
    const button = el("button", { type: "button", dataset: { cls: String(k) }, "aria-pressed": String(focus === k),
      title: "Show this class only (click again for all)" });
    const swatch = el("span", { class: "kv-swatch" });
    swatch.style.background = classColor(k);
    button.append(swatch, el("span", { class: "kv-emb-name" }, className(info.header, k)),
      el("span", { class: "kv-emb-count" }, String(counts[String(k)] || 0)));
    button.addEventListener("click", () => onFocus(k));
    return button;
  });
  legend.replaceChildren(title, ...items);
  if (!info.has.labels && !info.has.predictions) legend.append(el("div", { class: "kv-emb-hint" }, "The record holds no classes."));
}

/** A canvas showing the thumbnail of point `p` (/image of the record's `thumbnails`), `size` CSS pixels wide. */
function thumbCanvas(info, p, size) {
  const [h, w] = info.thumbnail || [1, 1];
  const canvas = el("canvas", { class: "kv-emb-canvas", width: w, height: h });
  canvas.style.width = `${size}px`;
  canvas.style.height = `${Math.round((size * h) / w)}px`;
  canvas.style.borderColor = classColor(p.label);
  if (info.thumbnail) {
    const url = routeURL("image", { run: info.run, tag: info.tag, step: info.step, array: "thumbnails", index: p.index });
    loadImage(url).then((image) => {
      canvas.getContext("2d").drawImage(image, 0, 0);
      canvas.dataset.painted = "1";
    }).catch(() => {});
  }
  return canvas;
}

/** The panel's words when no point is chosen. */
export function showHint(panel) {
  panel.replaceChildren(el("div", { class: "kv-emb-hint" },
    "Drag to pan, scroll to zoom. Hover a point for its classes; click it for its nearest neighbours in feature space."));
}

/** The chosen point of an /embedding_point `answer` and its neighbours, listed; clicking one calls `onChoose(index)`. */
export function showNeighbours(panel, info, answer, onChoose) {
  const nb = answer.neighbors;
  const points = nb.index.map((index, k) => ({
    index, label: nb.label ? nb.label[k] : null, prediction: nb.prediction ? nb.prediction[k] : null,
    probability: nb.probability ? nb.probability[k] : null,
  }));
  const me = { index: answer.index, label: answer.label, prediction: answer.prediction, probability: answer.probability };
  const box = el("div", { class: "kv-emb-chosen" });
  const text = el("div");
  for (const line of pointLines(info.header, me)) text.append(el("div", {}, line));
  box.append(thumbCanvas(info, me, 64), text);
  const same = has(me.label) ? points.filter((p) => p.label === me.label).length : null;
  const title = `${points.length} nearest neighbours in feature space (layer ${info.header.layer || "?"}, euclidean)`
    + (same === null ? "" : ` · ${same} share its true class`);
  const list = el("div", { class: "kv-nb-list", id: "kv-emb-neighbors" });
  for (const p of points) {
    const item = el("div", { class: "kv-nb-item", dataset: { index: String(p.index) }, title: pointLines(info.header, p).join("\n") });
    item.append(thumbCanvas(info, p, 56));
    if (has(p.label)) {
      item.append(el("span", { class: p.label === me.label ? "kv-same" : "kv-other" }, className(info.header, p.label)));
    }
    if (has(p.prediction) && (!has(p.label) || p.prediction !== p.label)) {
      item.append(el("span", { class: "kv-note" }, `pred ${className(info.header, p.prediction)}`));
    }
    item.addEventListener("click", () => onChoose(p.index));
    list.append(item);
  }
  panel.replaceChildren(box, el("h4", {}, title), list);
  if (!points.length) panel.append(el("div", { class: "kv-emb-hint" }, "No neighbours recorded for this point."));
  if (answer.neighbors_dropped) panel.append(el("div", { class: "kv-act-warn" }, `${answer.neighbors_dropped} neighbour indices out of range, left out`));
}
