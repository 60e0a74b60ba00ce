// Embeddings view: a 2-D projection (PCA or t-SNE) of a layer's features at the
// chosen step, coloured by class, drawn on one <canvas> so that 100,000 points
// stay fluid. The plugin cuts the map into level-of-detail tiles
// (/embedding_tile: at most 2,048 points each, a uniform sample of the tile's
// points, finer tiles adding points as one zooms in); the view asks only for the
// tiles on screen at the level of the current zoom, draws coarser tiles it
// already holds while finer ones load (views/embeddings_tiles.js), and asks for
// thumbnails (/embedding_thumbs) only when the tiles on screen hold few enough
// points to show them all (views/embeddings_plot.js).
// Drag to pan, wheel (or the +/− buttons) to zoom. Hover a point for its true
// class, prediction and probability; click it for its nearest neighbours in
// feature space (/embedding_point: precomputed by the writer; views/embeddings_panel.js).
// The projector (latest checkpoint only) keeps the 3-D view.

import { el } from "../common.js";
import { layerView, showError, errorText } from "./toolkit.js";
import { projectionName } from "./embeddings_parts.js";
import { embeddingPlot } from "./embeddings_plot.js";
import { drawLegend, showHint, showNeighbours } from "./embeddings_panel.js";

export default { family: "activations", method: "embeddings", title: "Embeddings", mount };

function projectorHref() {
  try {
    const top = window.top.location; // same origin: TensorBoard's own page
    return `${top.pathname}${top.search}#projector`;
  } catch (error) {
    return "#projector";
  }
}

function button(id, title, text) {
  return el("button", { type: "button", id, title }, text);
}

function mount(host, api) {
  const settings = { colorBy: "label", thumbs: null, focus: null, selected: null };
  const stats = { firstDrawMs: null, started: 0, drawMs: [], fetches: 0 };
  let info = null; // /embedding_info of the record shown

  const colorBy = el("select", { id: "kv-emb-color", "aria-label": "colour by" });
  colorBy.append(el("option", { value: "label" }, "true class"), el("option", { value: "prediction" }, "predicted class"));
  const thumbs = el("input", { id: "kv-emb-thumbs", type: "checkbox" });
  const thumbsLabel = el("label", { class: "kv-method", for: "kv-emb-thumbs" });
  thumbsLabel.append(thumbs, el("span", {}, "thumbnails"));
  const zoomIn = button("kv-emb-zoom-in", "Zoom in", "+");
  const zoomOut = button("kv-emb-zoom-out", "Zoom out", "−");
  const zoomFit = button("kv-emb-zoom-fit", "Show the whole map", "fit");
  const projector = el("a", { id: "kv-emb-projector", target: "_top", href: projectorHref() }, "3-D in the Projector ↗");
  const legend = el("div", { class: "kv-emb-legend", id: "kv-emb-legend" });
  const panel = el("div", { class: "kv-emb-panel", id: "kv-emb-panel" });
  const side = el("div", { class: "kv-emb-side", id: "kv-emb-side" });
  side.append(legend, panel);
  const main = el("div", { class: "kv-emb-main" });
  const message = el("div");
  const plot = embeddingPlot(api, { host, settings, thumbs, stats, onError: (text) => showError(message, text),
    onClick: (i) => choose(i === null || i === settings.selected ? null : i) });
  main.append(plot.box, side);
  const view = layerView(host, api, {
    id: "kv-emb", what: "embeddings of this layer", errors: message, body: [message, main], load, draw,
    controls: [el("label", { class: "kv-field", for: "kv-emb-color" }, "Colour by"), colorBy, thumbsLabel,
      zoomIn, zoomOut, zoomFit, projector],
    clear() { info = null; plot.hide(); main.hidden = true; },
    destroy() { plot.destroy(); document.removeEventListener("keydown", onKey); },
  });

  colorBy.addEventListener("change", () => { settings.colorBy = colorBy.value; settings.focus = null; legendAgain(); plot.redraw(); });
  thumbs.addEventListener("change", () => { settings.thumbs = thumbs.checked; plot.redraw(); });
  zoomIn.addEventListener("click", () => plot.zoom(2));
  zoomOut.addEventListener("click", () => plot.zoom(0.5));
  zoomFit.addEventListener("click", () => plot.fit());
  const onKey = (event) => { if (event.key === "Escape") choose(null); };
  document.addEventListener("keydown", onKey);

  function load(selection, series, step, signal) {
    stats.started = performance.now();
    stats.firstDrawMs = null;
    plot.canvas.dataset.shown = ""; // until the new record's tiles are drawn
    return api.fetchJSON("embedding_info", { run: selection.run, tag: series.tag, step }, signal);
  }

  function draw({ selection, step, record, signal }) {
    info = record;
    message.replaceChildren();
    main.hidden = false;
    if (settings.selected !== null && settings.selected >= info.n) settings.selected = null;
    plot.show(info, signal);
    offerColorings();
    describe(step);
    legendAgain();
    plot.redraw();
    choose(settings.selected);
  }

  function describe(step) {
    const header = info.header;
    const parts = [`${projectionName(header)} of ${info.n} points`];
    if (info.n > info.tile_points) parts.push("a sample per tile; zoom in for more points");
    view.describe(`layer ${header.layer || "?"}`, parts, step, info.notes);
    projector.textContent = header.projector_run ? `3-D in the Projector (run ${header.projector_run}) ↗` : "3-D in the Projector ↗";
    projector.title = "The projector shows the latest checkpoint only (at most 10,000 points for its t-SNE); this view follows the step slider.";
  }

  /** Colour by what the record holds: a record without true labels is coloured by its predictions. */
  function offerColorings() {
    const held = { label: info.has.labels, prediction: info.has.predictions };
    for (const option of colorBy.options) option.disabled = !held[option.value];
    if (!held[settings.colorBy] && (held.label || held.prediction)) {
      settings.colorBy = held.label ? "label" : "prediction";
      settings.focus = null;
    }
    colorBy.value = settings.colorBy;
    colorBy.disabled = !held.label && !held.prediction;
  }

  function legendAgain() {
    if (!info) return;
    drawLegend(legend, info, settings, (k) => { settings.focus = settings.focus === k ? null : k; legendAgain(); plot.redraw(); });
  }

  /** Selects point i (null: none): its neighbours are ringed and linked in the plot and listed in the side panel. */
  async function choose(i) {
    settings.selected = i;
    plot.setChosen(null);
    plot.canvas.dataset.selected = i === null ? "" : String(i);
    if (i === null || !info) {
      showHint(panel);
      return;
    }
    const shown = info;
    let answer;
    try {
      answer = await api.fetchJSON("embedding_point", { run: info.run, tag: info.tag, step: info.step, index: i });
    } catch (error) {
      showError(panel, errorText(error));
      return;
    }
    if (info !== shown || settings.selected !== i) return;
    showNeighbours(panel, info, answer, choose);
    plot.setChosen(answer);
  }

  return view;
}
