// Embeddings view: a 2-D projection (PCA or t-SNE, record array `coords`
// [N, 2]) of a layer's features at the chosen step, coloured by class, with
// the inputs' thumbnails at their points (toggle). Hover a point for its true
// class, prediction and probability; click it for its nearest neighbours in
// feature space (`neighbors` [N, k], precomputed by the writer). The step
// slider moves the points over training, which the projector (latest
// checkpoint only) cannot; the projector keeps the 3-D view.

import { el, svg, routeURL, loadImage, className, debounce, latestRequest } from "../common.js";
import { layerChooser, stepFor, Records, showError } from "./activation_parts.js";
import { classColor, decodeEmbeddings, pointLines, projectionName } from "./embeddings_parts.js";

export default { family: "activations", method: "embeddings", title: "Embeddings", mount };

const THUMB = 26; // thumbnail size in the plot, CSS pixels
const AUTO_THUMBS = 400; // thumbnails start on up to this many points

function mount(host, api) {
  const records = new Records(api);
  const settings = { colorBy: "label", thumbs: null, focus: null, selected: null };
  let selection = null;
  const requests = latestRequest();
  let data = null; // the decoded record shown
  let points = []; // <g> per point, reused across steps while N stays
  let built = null; // "tag|N" of the points built
  let shownStep = null;
  let linksTimer = null;

  const layers = layerChooser("kv-emb-layer", () => show());
  const colorBy = el("select", { id: "kv-emb-color", "aria-label": "colour by" });
  colorBy.append(el("option", { value: "label" }, "true class"), el("option", { value: "prediction" }, "predicted class"));
  const thumbs = el("input", { id: "kv-emb-thumbs", type: "checkbox" });
  const thumbsLabel = el("label", { class: "kv-method", for: "kv-emb-thumbs" });
  thumbsLabel.append(thumbs, el("span", {}, "thumbnails"));
  const projector = el("a", { id: "kv-emb-projector", target: "_top", href: projectorHref() }, "3-D in the Projector ↗");
  const controls = el("div", { class: "kv-controls" });
  controls.append(layers.box, el("label", { class: "kv-field", for: "kv-emb-color" }, "Colour by"), colorBy,
    thumbsLabel, projector);
  const info = el("div", { class: "kv-act-info", id: "kv-emb-info" });
  const plotBox = el("div", { class: "kv-emb-plot-box" });
  const plot = svg("svg", { class: "kv-emb-plot", id: "kv-emb-plot", role: "img" });
  const links = svg("g", { class: "kv-emb-links" });
  const layer = svg("g", { class: "kv-emb-points" });
  const axes = svg("g");
  plot.append(axes, links, layer);
  const tip = el("div", { class: "kv-emb-tip", id: "kv-emb-tip", role: "tooltip", hidden: true });
  plotBox.append(plot, tip);
  const legend = el("div", { class: "kv-emb-legend", id: "kv-emb-legend" });
  const panel = el("div", { class: "kv-emb-panel", id: "kv-emb-panel" });
  const side = el("div", { class: "kv-emb-side", id: "kv-emb-side" });
  side.append(legend, panel);
  const main = el("div", { class: "kv-emb-main" });
  main.append(plotBox, side);
  const message = el("div");
  host.append(controls, info, message, main);

  colorBy.addEventListener("change", () => { settings.colorBy = colorBy.value; settings.focus = null; paint(); });
  thumbs.addEventListener("change", () => { settings.thumbs = thumbs.checked; paint(); });
  plot.addEventListener("click", (event) => { if (event.target === plot) choose(null); });
  const onKey = (event) => { if (event.key === "Escape") choose(null); };
  document.addEventListener("keydown", onKey);
  const onResize = debounce(() => paint(), 150);
  window.addEventListener("resize", onResize);

  function projectorHref() {
    try {
      const top = window.top.location; // same origin: TensorBoard's own page
      return `${top.pathname}${top.search}#projector`;
    } catch (error) {
      return "#projector";
    }
  }

  async function show() {
    const signal = requests.next();
    const series = layers.set(selection.series);
    if (!series) return;
    const step = stepFor(selection, series.tag);
    if (step === null) {
      fail(`No embeddings of this layer at or before step ${selection.step}.`);
      return;
    }
    try {
      const record = await records.get(selection.run, series.tag, step, signal);
      if (signal.aborted) return;
      data = decodeEmbeddings(record);
    } catch (error) {
      if (!signal.aborted) fail(String(error.message || error));
      return;
    }
    message.replaceChildren();
    main.hidden = false;
    if (settings.selected !== null && settings.selected >= data.n) settings.selected = null;
    offerColorings();
    describe(step);
    paint();
  }

  function fail(text) {
    data = null;
    main.hidden = true;
    info.replaceChildren();
    showError(message, text);
  }

  function describe(step) {
    const header = data.header;
    const projection = projectionName(header);
    const parts = [
      el("span", { class: "kv-act-main" }, `layer ${header.layer || "?"}`),
      el("span", {}, `${projection} of ${data.n} points`),
    ];
    if (data.labels && data.predictions) {
      const wrong = data.labels.filter((label, i) => label !== data.predictions[i]).length;
      parts.push(el("span", {}, `${wrong} misclassified (dark ring; dashed frame on thumbnails)`));
    }
    if (step !== selection.step) parts.push(el("span", { class: "kv-act-warn" }, `from step ${step}`));
    for (const note of data.notes) parts.push(el("span", { class: "kv-act-warn" }, note));
    info.replaceChildren(...parts);
    projector.textContent = header.projector_run ? `3-D in the Projector (run ${header.projector_run}) ↗` : "3-D in the Projector ↗";
    projector.title = "The projector shows the latest checkpoint only; this view follows the step slider.";
  }

  /** Colour by what the record holds: a record without true labels is coloured by its predictions. */
  function offerColorings() {
    const held = { label: !!data.labels, prediction: !!data.predictions };
    for (const option of colorBy.options) option.disabled = !held[option.value];
    if (!held[settings.colorBy] && (held.label || held.prediction)) {
      settings.colorBy = held.label ? "label" : "prediction";
      settings.focus = null;
    }
    colorBy.value = settings.colorBy;
    colorBy.disabled = !held.label && !held.prediction;
  }

  function classOf(i) {
    const list = settings.colorBy === "prediction" ? data.predictions : data.labels;
    return list ? list[i] : null;
  }

  function spriteURL() {
    const t = data.thumbnails;
    return routeURL("sprite", { run: data.record.run, tag: data.record.tag, step: data.record.step, array: "thumbnails", columns: t.columns });
  }

  /** Where each point goes: one scale for both axes (distances keep their meaning), y up. */
  function layout() {
    const width = Math.round(Math.max(360, Math.min(760, (host.clientWidth || 1000) - 330)));
    const top = plotBox.getBoundingClientRect().top || 160;
    const height = Math.round(Math.max(320, Math.min(640, window.innerHeight - top - 18)));
    const finite = data.xy.filter(([x, y]) => isFinite(x) && isFinite(y));
    if (!finite.length) finite.push([-1, -1], [1, 1]);
    const xs = finite.map((p) => p[0]), ys = finite.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const pad = THUMB / 2 + 6;
    const scale = Math.min((width - 2 * pad) / Math.max(x1 - x0, 1e-9), (height - 2 * pad) / Math.max(y1 - y0, 1e-9));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const place = ([x, y]) => [width / 2 + (isFinite(x) ? x - cx : 0) * scale, height / 2 - (isFinite(y) ? y - cy : 0) * scale];
    return { width, height, positions: data.xy.map(place) };
  }

  function buildPoints() {
    layer.replaceChildren();
    plot.classList.remove("kv-animate");
    points = [];
    for (let i = 0; i < data.n; i++) {
      const g = svg("g", { class: "kv-pt", "data-index": i });
      g.append(svg("circle", { r: 4.5 }));
      const thumb = svg("g", { class: "kv-emb-thumb" });
      const view = svg("svg", { x: -THUMB / 2, y: -THUMB / 2, width: THUMB, height: THUMB });
      view.append(svg("image", { preserveAspectRatio: "none" }));
      thumb.append(view, svg("rect", { class: "kv-emb-frame", x: -THUMB / 2 - 1, y: -THUMB / 2 - 1, width: THUMB + 2, height: THUMB + 2 }));
      g.append(thumb, svg("rect", { class: "kv-emb-hit", fill: "transparent" })); // what the pointer meets
      g.addEventListener("pointerenter", (event) => hover(i, event));
      g.addEventListener("pointermove", (event) => moveTip(event));
      g.addEventListener("pointerleave", () => { g.classList.remove("kv-hover"); tip.hidden = true; });
      g.addEventListener("click", (event) => { event.stopPropagation(); choose(settings.selected === i ? null : i); });
      layer.append(g);
      points.push(g);
    }
  }

  function paint() {
    if (!data) return;
    const key = `${data.record.tag}|${data.n}`;
    if (built !== key) { buildPoints(); built = key; }
    const moved = shownStep !== null && shownStep !== data.record.step;
    shownStep = data.record.step;
    if (moved) { // the links appear once the points have glided to their new places
      links.style.opacity = "0";
      clearTimeout(linksTimer);
      linksTimer = setTimeout(() => { links.style.opacity = "1"; }, 380);
    }
    const { width, height, positions } = layout();
    plot.setAttribute("width", width);
    plot.setAttribute("height", height);
    plot.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const projection = data.header.projection === "tsne" ? "t-SNE" : "PC";
    axes.replaceChildren(
      svg("text", { x: width - 6, y: height - 6, "text-anchor": "end", class: "kv-emb-axis" }, `${projection} 1 →`),
      svg("text", { x: 6, y: 14, class: "kv-emb-axis" }, `↑ ${projection} 2`),
    );
    const showThumbs = !!data.thumbnails && (settings.thumbs === null ? data.n <= AUTO_THUMBS : settings.thumbs);
    thumbs.checked = showThumbs;
    thumbs.disabled = !data.thumbnails;
    plot.classList.toggle("kv-thumbs", showThumbs);
    const sprite = data.thumbnails ? spriteURL() : null;
    const t = data.thumbnails;
    const hit = showThumbs ? THUMB + 2 : 12;
    points.forEach((g, i) => {
      const [x, y] = positions[i];
      const area = g.lastChild;
      area.setAttribute("x", -hit / 2); area.setAttribute("y", -hit / 2);
      area.setAttribute("width", hit); area.setAttribute("height", hit);
      g.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      const color = classColor(classOf(i));
      g.firstChild.setAttribute("fill", color);
      g.querySelector(".kv-emb-frame").setAttribute("stroke", color);
      const wrong = data.labels && data.predictions && data.labels[i] !== data.predictions[i];
      g.classList.toggle("kv-wrong", !!wrong);
      g.classList.toggle("kv-in-focus", settings.focus !== null && classOf(i) === settings.focus);
      if (showThumbs && t) {
        const view = g.querySelector(".kv-emb-thumb svg");
        view.setAttribute("viewBox", `${(i % t.columns) * t.w} ${Math.floor(i / t.columns) * t.h} ${t.w} ${t.h}`);
        const image = view.firstChild;
        image.setAttribute("width", t.columns * t.w);
        image.setAttribute("height", Math.ceil(data.n / t.columns) * t.h);
        if (image.getAttribute("href") !== sprite) image.setAttribute("href", sprite);
      }
    });
    plot.classList.toggle("kv-focus", settings.focus !== null);
    requestAnimationFrame(() => plot.classList.add("kv-animate")); // later steps glide
    plot.dataset.shown = `${data.record.run}|${data.record.tag}|${data.record.step}`; // what is shown (tests wait on it)
    drawLegend();
    choose(settings.selected, positions);
  }

  function drawLegend() {
    const list = settings.colorBy === "prediction" ? data.predictions : data.labels;
    const counts = new Map();
    for (const k of list || []) counts.set(k, (counts.get(k) || 0) + 1);
    const names = Array.isArray(data.header.class_names) ? data.header.class_names : [];
    const classes = [...new Set([...names.map((_, k) => k), ...counts.keys()])].filter((k) => k !== null).sort((a, b) => a - b);
    const title = el("div", { class: "kv-field" }, settings.colorBy === "prediction" ? "Predicted class" : "True class");
    const items = classes.slice(0, 60).map((k) => {
      const button = el("button", { type: "button", dataset: { cls: String(k) }, "aria-pressed": String(settings.focus === k),
        title: "Show this class only (click again for all)" });
      const swatch = el("span", { class: "kv-swatch" });
      swatch.style.background = classColor(k);
      button.append(swatch, el("span", { class: "kv-emb-name" }, className(data.header, k)),
        el("span", { class: "kv-emb-count" }, String(counts.get(k) || 0)));
      button.addEventListener("click", () => { settings.focus = settings.focus === k ? null : k; paint(); });
      return button;
    });
    legend.replaceChildren(title, ...items);
    if (!list) legend.append(el("div", { class: "kv-emb-hint" }, "The record holds no classes."));
  }

  function hover(i, event) {
    points[i].classList.add("kv-hover");
    tip.textContent = pointLines(data, i).join("\n");
    tip.hidden = false;
    moveTip(event);
  }

  function moveTip(event) {
    const box = plotBox.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const left = x + 14 + tip.offsetWidth > box.width ? x - 14 - tip.offsetWidth : x + 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, y - tip.offsetHeight - 10)}px`;
  }

  /** A canvas showing thumbnail i, cut from the sprite. */
  function thumbCanvas(i, size) {
    const t = data.thumbnails;
    const canvas = el("canvas", { class: "kv-emb-canvas", width: t ? t.w : 1, height: t ? t.h : 1 });
    canvas.style.width = `${size}px`;
    canvas.style.height = `${t ? Math.round((size * t.h) / t.w) : size}px`;
    canvas.style.borderColor = classColor(data.labels ? data.labels[i] : null);
    if (t) {
      const url = spriteURL();
      loadImage(url).then((sheet) => {
        canvas.getContext("2d").drawImage(sheet, (i % t.columns) * t.w, Math.floor(i / t.columns) * t.h, t.w, t.h, 0, 0, t.w, t.h);
        canvas.dataset.painted = "1";
      }).catch(() => {});
    }
    return canvas;
  }

  /** Selects point i (null: none): its neighbours are ringed in the plot and listed in the side panel. */
  function choose(i, positions = null) {
    settings.selected = i;
    points.forEach((g) => g.classList.remove("kv-selected", "kv-neighbor"));
    links.replaceChildren();
    if (i === null || !data) {
      panel.replaceChildren(el("div", { class: "kv-emb-hint" },
        "Hover a point for its classes; click it for its nearest neighbours in feature space."));
      return;
    }
    const neighbors = data.neighbors ? data.neighbors[i] : [];
    const where = positions || layout().positions;
    points[i].classList.add("kv-selected");
    for (const j of neighbors) {
      points[j].classList.add("kv-neighbor");
      links.append(svg("line", { class: "kv-emb-link", x1: where[i][0], y1: where[i][1], x2: where[j][0], y2: where[j][1] }));
    }
    const chosen = el("div", { class: "kv-emb-chosen" });
    const text = el("div");
    for (const line of pointLines(data, i)) text.append(el("div", {}, line));
    chosen.append(thumbCanvas(i, 64), text);
    const same = data.labels ? neighbors.filter((j) => data.labels[j] === data.labels[i]).length : null;
    const title = `${neighbors.length} nearest neighbours in feature space (layer ${data.header.layer || "?"}, euclidean)`
      + (same === null ? "" : ` · ${same} share its true class`);
    const list = el("div", { class: "kv-nb-list", id: "kv-emb-neighbors" });
    for (const j of neighbors) {
      const item = el("div", { class: "kv-nb-item", dataset: { index: String(j) }, title: pointLines(data, j).join("\n") });
      item.append(thumbCanvas(j, 56));
      if (data.labels) {
        item.append(el("span", { class: data.labels[j] === data.labels[i] ? "kv-same" : "kv-other" },
          className(data.header, data.labels[j])));
      }
      if (data.predictions && (!data.labels || data.predictions[j] !== data.labels[j])) {
        item.append(el("span", { class: "kv-note" }, `pred ${className(data.header, data.predictions[j])}`));
      }
      item.addEventListener("click", () => choose(j));
      list.append(item);
    }
    panel.replaceChildren(chosen, el("h4", {}, title), list);
    if (!neighbors.length) panel.append(el("div", { class: "kv-emb-hint" }, "No neighbours recorded for this point."));
  }

  return {
    update(next) { selection = next; show(); },
    destroy() {
      requests.cancel();
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("resize", onResize);
      host.replaceChildren();
    },
  };
}
