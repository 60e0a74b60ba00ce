// Filters view: the rendered grid of a layer's filters (record array `grid`,
// uint8 [H, W, 3 or 1]) at the chosen step, upscaled without smoothing so 3×3
// kernels stay visible; move the step slider to watch them form over training.
// Records without a `grid` image are shown by the generic view.

import { el, routeURL, loadImage } from "../common.js";
import generic from "./generic.js";
import { layerView, showError } from "./toolkit.js";

export default { family: "activations", method: "filters", title: "Filters", mount };

const ZOOMS = ["fit", 1, 2, 4, 8, 16, 32];

function mount(host, api) {
  let fallback = null; // the generic view, for records that are not filter grids
  let natural = null; // [width, height] of the grid shown

  const zoom = el("select", { id: "kv-filters-zoom", "aria-label": "zoom" });
  zoom.append(...ZOOMS.map((z) => el("option", { value: String(z) }, z === "fit" ? "fit" : `${z}×`)));
  const box = el("div", { class: "kv-filters-box", id: "kv-filters-box" });
  const img = el("img", { id: "kv-filters-img", class: "kv-filters-img", alt: "filter grid", hidden: true });
  const message = el("div");
  const other = el("div");
  box.append(img, message);
  zoom.addEventListener("change", () => resize());
  window.addEventListener("resize", resize);

  const view = layerView(host, api, {
    id: "kv-filters", what: "filters of this layer", errors: message,
    controls: [el("label", { class: "kv-field", for: "kv-filters-zoom" }, "Zoom"), zoom], body: [box, other],
    draw, clear() { img.hidden = true; },
    destroy() {
      if (fallback) fallback.destroy();
      window.removeEventListener("resize", resize);
    },
  });

  /** An integer factor, so every filter weight becomes a square of whole pixels. */
  function factor() {
    if (!natural) return 1;
    if (zoom.value !== "fit") return Number(zoom.value);
    const width = Math.max(200, (host.clientWidth || 800) - 8);
    const height = Math.max(240, window.innerHeight - box.getBoundingClientRect().top - 16);
    return Math.max(1, Math.min(48, Math.floor(Math.min(width / natural[0], height / natural[1]))));
  }

  function resize() {
    if (!natural) return;
    const k = factor();
    img.style.width = `${natural[0] * k}px`;
    img.style.height = `${natural[1] * k}px`;
    img.dataset.zoom = String(k);
  }

  function useFallback(selection, series) {
    view.info.replaceChildren(el("span", { class: "kv-act-warn" }, "This record holds no `grid` image: shown as stored."));
    img.hidden = true;
    message.replaceChildren();
    if (!fallback) fallback = generic.mount(other, api);
    fallback.update({ ...selection, series: [series] });
  }

  async function draw({ selection, series, step, record, signal }) {
    const grid = record.arrays.grid;
    if (!grid || grid.encoding !== "image" || grid.shape.length !== 3) { useFallback(selection, series); return; }
    if (fallback) { fallback.destroy(); fallback = null; }
    const header = record.header;
    const parts = [];
    const shape = Array.isArray(header.kernel_shape) ? header.kernel_shape : null;
    if (shape && shape.length === 4) parts.push(`kernel ${shape[0]}×${shape[1]}, ${shape[2]} → ${shape[3]} channels`);
    if (header.description) parts.push(el("span", { id: "kv-filters-description" }, String(header.description)));
    parts.push(`grid ${grid.shape[1]}×${grid.shape[0]} px`);
    const url = routeURL("picture", { run: selection.run, tag: series.tag, step, array: "grid" });
    let image;
    try {
      image = await loadImage(url);
    } catch (error) {
      if (!signal.aborted) showError(message, `The filter grid could not be loaded (${series.tag}, step ${step}).`);
      return;
    }
    if (signal.aborted) return;
    view.describe(`layer ${header.layer || "?"}`, parts, step);
    message.replaceChildren();
    natural = [image.naturalWidth, image.naturalHeight];
    img.src = url;
    img.alt = `filters of layer ${header.layer || "?"} at step ${step}`;
    img.hidden = false;
    resize();
    img.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
  }

  return view;
}
