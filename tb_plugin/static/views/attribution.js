// Attribution view: one row per image, one column per method; maps coloured
// and blended over the image on the client (canvas), so colormap, opacity,
// class and scale change without a request. Each metric per method over steps
// as small SVG line charts, with its direction. A comparison of methods
// (`kerasviz.metrics.compare(...).write`) as a sortable table above the grid.

import { el, decodeArray, loadImage, whenVisible, className, fmt, routeURL, LRU } from "../common.js";
import { COLORMAPS, colorize, colorbar } from "../colormaps.js";
import { lineChart } from "../charts.js";
import { describe, isOcclusion, lowerIsImportant, placement, labelLines, percent, probability, targetOf, HIGHER_IS_BETTER, directionHint } from "./attribution_parts.js";
import { COMPARISON, comparisonPanel } from "./comparison.js";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const CELL = 136; // CSS pixels per image cell
const MIN_GRID_HEIGHT = 240; // the grid box never gets shorter than this (the page scrolls instead)
const BOTTOM_GAP = 28; // CSS pixels below the grid box: the page's bottom padding and a margin

export default { family: "attribution", title: "Attribution", mount };

function mount(host, api) {
  const settings = { colormap: "inferno", opacity: 0.6, scale: "map", classIndex: 0, hidden: new Set(), invert: new Map() };
  const records = new LRU(48); // "run|tag|step" -> record JSON
  let selection = null;
  let abort = null;
  let painters = []; // redraw closures of the cells drawn so far
  let chartKey = null;

  const controls = el("div", { class: "kv-controls" });
  const methodBox = el("div", { class: "kv-methods", id: "kv-methods" });
  const classSelect = el("select", { id: "kv-class", "aria-label": "class" });
  const cmapSelect = el("select", { id: "kv-colormap", "aria-label": "colormap" });
  cmapSelect.append(...COLORMAPS.map((name) => el("option", { value: name }, name)));
  const bar = el("span", { class: "kv-colorbar-box" });
  const opacity = el("input", { id: "kv-opacity", type: "range", min: "0", max: "1", step: "0.05", value: "0.6", "aria-label": "opacity" });
  const scale = el("select", { id: "kv-scale", "aria-label": "scale" });
  scale.append(el("option", { value: "map" }, "each map"), el("option", { value: "method" }, "shared per method"));
  controls.append(
    methodBox,
    el("label", { class: "kv-field", for: "kv-class" }, "Class"), classSelect,
    el("label", { class: "kv-field", for: "kv-colormap" }, "Colormap"), cmapSelect, bar,
    el("label", { class: "kv-field", for: "kv-opacity" }, "Opacity"), opacity,
    el("label", { class: "kv-field", for: "kv-scale" }, "Scale"), scale,
  );
  // The charts sit beside the grid on wide screens and above it on narrow ones (style.css), in a
  // panel that folds away; the grid scrolls inside its own box, sized to end at the window's
  // bottom, so its sticky headers and its sideways scrollbar stay on screen.
  const charts = el("div", { class: "kv-charts", id: "kv-charts" });
  const chartsPanel = el("details", { class: "kv-charts-panel", id: "kv-charts-panel", open: true });
  chartsPanel.append(el("summary", {}, "Metrics over steps"), charts);
  const grid = el("div", { class: "kv-grid-box", id: "kv-grid-box" });
  const main = el("div", { class: "kv-main" });
  main.append(grid, chartsPanel);
  const comparison = comparisonPanel();
  const comparisonTitle = el("summary", {}, "Method comparison");
  const comparisonBox = el("details", { class: "kv-comparison-panel", id: "kv-comparison-panel", open: true, hidden: true });
  comparisonBox.append(comparisonTitle, comparison.element);
  host.append(comparisonBox, controls, main);
  const fitGrid = () => {
    const top = grid.getBoundingClientRect().top + window.scrollY;
    grid.style.maxHeight = `${Math.max(MIN_GRID_HEIGHT, Math.floor(window.innerHeight - top - BOTTOM_GAP))}px`;
  };
  const resized = new ResizeObserver(() => fitGrid());
  resized.observe(controls);
  resized.observe(chartsPanel);
  window.addEventListener("resize", fitGrid);

  const repaint = () => { for (const paint of painters) paint(); };
  const refreshBar = () => bar.replaceChildren(colorbar(settings.colormap));
  refreshBar();
  cmapSelect.addEventListener("change", () => { settings.colormap = cmapSelect.value; refreshBar(); repaint(); });
  opacity.addEventListener("input", () => { settings.opacity = Number(opacity.value); repaint(); });
  scale.addEventListener("change", () => { settings.scale = scale.value; repaint(); });
  classSelect.addEventListener("change", () => { settings.classIndex = Number(classSelect.value); showRecords(); });

  /** The series of maps (every series but the comparison's). */
  function mapSeries() {
    return selection.series.filter((series) => series.method !== COMPARISON);
  }

  function methodColor(tag) {
    const tags = mapSeries().map((s) => s.tag);
    return PALETTE[Math.max(0, tags.indexOf(tag)) % PALETTE.length];
  }

  function buildMethodBox() {
    methodBox.replaceChildren(...mapSeries().map((series) => {
      const box = el("input", { type: "checkbox", checked: !settings.hidden.has(series.method), dataset: { method: series.method } });
      box.addEventListener("change", () => {
        if (box.checked) settings.hidden.delete(series.method); else settings.hidden.add(series.method);
        loadStep();
        drawCharts();
      });
      const swatch = el("span", { class: "kv-swatch" });
      swatch.style.background = methodColor(series.tag);
      const label = el("label", { class: "kv-method" });
      label.append(box, swatch, el("span", {}, series.method));
      return label;
    }));
  }

  function visibleSeries() {
    return mapSeries().filter((series) => !settings.hidden.has(series.method));
  }

  /** The step of `tag` to show: the selected one, or the latest before it. */
  function stepFor(tag) {
    const steps = selection.stepsByTag[tag] || [];
    let best = null;
    for (const s of steps) if (s <= selection.step && (best === null || s > best)) best = s;
    return best;
  }

  async function loadStep() {
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    const wanted = visibleSeries().map((series) => ({ series, step: stepFor(series.tag) }));
    api.setStatus(`Loading step ${selection.step}…`);
    const results = await Promise.allSettled(wanted.map(({ series, step }) => {
      if (step === null) return Promise.resolve(null);
      const key = `${selection.run}|${series.tag}|${step}`;
      const cached = records.get(key);
      if (cached) return Promise.resolve(cached);
      return api.fetchJSON("record", { run: selection.run, tag: series.tag, step }, signal).then((record) => {
        records.set(key, record);
        return record;
      });
    }));
    if (signal.aborted) return;
    const errors = results.filter((r) => r.status === "rejected").map((r) => String(r.reason.message || r.reason));
    api.setStatus(errors.join("\n"), errors.length ? "error" : "info");
    current = wanted.map((w, k) => ({ ...w, record: results[k].status === "fulfilled" ? results[k].value : null }));
    showRecords();
  }

  let current = [];

  function mapClasses() {
    const classes = new Map();
    for (const { record } of current) {
      const maps = record && record.arrays.maps;
      const list = record && record.header.map_classes;
      if (maps && maps.shape.length === 4 && Array.isArray(list)) list.forEach((k) => classes.set(k, record.header));
    }
    return [...classes.entries()];
  }

  function buildClassSelect() {
    const classes = mapClasses();
    if (!classes.length) {
      classSelect.replaceChildren(el("option", { value: "0" }, "each image's target"));
      classSelect.disabled = true;
      settings.classIndex = 0;
      return;
    }
    const keep = settings.classIndex;
    classSelect.replaceChildren(...classes.map(([k, header], index) => el("option", { value: String(index) }, className(header, k))));
    classSelect.disabled = false;
    settings.classIndex = keep < classes.length ? keep : 0;
    classSelect.value = String(settings.classIndex);
  }

  function showRecords() {
    buildClassSelect();
    painters = [];
    const shown = current.filter((c) => c.record);
    if (!shown.length) {
      grid.replaceChildren(el("p", { class: "kv-empty" }, "No record of the chosen methods at or before this step."));
      return;
    }
    const count = Math.max(...shown.map((c) => (c.record.arrays.images ? c.record.arrays.images.shape[0] : 0)));
    const classes = mapClasses();
    const chosenClass = classes.length ? classes[settings.classIndex][0] : null;
    const table = el("table", { class: "kv-grid", id: "kv-grid" });
    const head = el("tr");
    head.append(el("th", {}, "input"));
    for (const c of shown) head.append(columnHead(c));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    table.append(body);
    const reference = shown[0].record;
    for (let i = 0; i < count; i++) {
      const row = el("tr", { class: "kv-row", dataset: { index: String(i) } });
      row.append(inputCell(reference, i));
      for (const c of shown) row.append(mapCell(c, i, chosenClass));
      body.append(row);
    }
    grid.replaceChildren(table);
    fitGrid();
    grid.dataset.key = `${selection.run}|${selection.step}|${chosenClass}`; // what is shown (tests wait on it)
    drawCharts();
  }

  function columnHead({ series, step, record }) {
    const th = el("th", { class: "kv-col", dataset: { method: series.method } });
    const swatch = el("span", { class: "kv-swatch" });
    swatch.style.background = methodColor(series.tag);
    th.append(swatch, el("span", { class: "kv-col-name" }, series.method));
    const header = record.header;
    const notes = step !== selection.step ? [`from step ${step}`] : [];
    notes.push(...describe(header, record.arrays.maps));
    for (const note of notes) th.append(el("div", { class: "kv-note" }, note));
    const invert = el("input", { type: "checkbox", class: "kv-invert", checked: inverted(series.method, header) });
    invert.addEventListener("change", () => { settings.invert.set(series.method, invert.checked); repaint(); });
    const lower = lowerIsImportant(header);
    const label = el("label", { class: "kv-note kv-invert-box", title: lower
      ? "Low values of this map mark what matters (e.g. the score with the occluder). Inverted, bright means important."
      : "Swap the colormap's ends." });
    label.append(invert, el("span", {}, lower ? "invert (low = important)" : "invert"));
    th.append(label);
    return th;
  }

  /** Maps whose low values matter (occlusion scores) start inverted; the user may flip any column. */
  function inverted(method, header) {
    return settings.invert.has(method) ? settings.invert.get(method) : lowerIsImportant(header);
  }

  function imageURL(record, i) {
    return routeURL("image", { run: record.run, tag: record.tag, step: record.step, index: i });
  }

  function inputCell(record, i) {
    const td = el("td", { class: "kv-cell kv-input" });
    if (!record.arrays.images || i >= record.arrays.images.shape[0]) return td;
    const canvas = el("canvas", { class: "kv-canvas", width: CELL, height: CELL });
    td.append(canvas);
    for (const [cls, text] of labelLines(record.header, i)) td.append(el("div", { class: `kv-label ${cls}` }, text));
    const paint = async () => {
      const image = await loadImage(imageURL(record, i));
      sizeCanvas(canvas, image);
      const context = canvas.getContext("2d");
      context.imageSmoothingEnabled = image.naturalWidth > CELL / 2;
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      canvas.dataset.painted = "image";
    };
    whenVisible(td, () => { paint().catch(() => {}); });
    return td;
  }

  function sizeCanvas(canvas, image) {
    const ratio = window.devicePixelRatio || 1;
    const aspect = image.naturalHeight / image.naturalWidth || 1;
    canvas.width = Math.round(CELL * ratio);
    canvas.height = Math.round(CELL * aspect * ratio);
    canvas.style.width = `${CELL}px`;
    canvas.style.height = `${Math.round(CELL * aspect)}px`;
  }

  // A map whose values are all equal: displayed as zeros, it would read as "nothing matters".
  function isConstant(maps, slice, size) {
    if (maps.lo && maps.hi) return maps.lo[slice] === maps.hi[slice];
    const first = maps.value(slice * size);
    for (let j = 1; j < size; j += 1) if (maps.value(slice * size + j) !== first) return false;
    return true;
  }

  function mapCell({ series, record }, i, chosenClass) {
    const td = el("td", { class: "kv-cell kv-map", dataset: { method: series.method } });
    const images = record.arrays.images;
    const maps = decodeArray(record.arrays.maps);
    if (!maps || maps.unavailable || !images || i >= images.shape[0]) {
      td.append(el("div", { class: "kv-note" }, maps && maps.unavailable ? `maps ${maps.unavailable}` : "no map"));
      return td;
    }
    const header = record.header;
    const hasClasses = maps.shape.length === 4 && Array.isArray(header.map_classes);
    const k = hasClasses ? Math.max(0, header.map_classes.indexOf(chosenClass)) : 0;
    const [h, w] = maps.shape.slice(-2);
    const slice = hasClasses ? i * maps.shape[1] + k : i;
    const canvas = el("canvas", { class: "kv-canvas", width: CELL, height: CELL });
    const target = targetOf(header, i, chosenClass, hasClasses);
    const p = typeof target === "number" ? probability(header, i, target) : null;
    const explains = typeof target === "string" ? target : className(header, target);
    const readout = el("div", { class: "kv-readout" }, "\u00a0");
    td.append(canvas, el("div", { class: "kv-label kv-explains" }, `explains ${explains}${percent(p)}`), readout);
    if (isConstant(maps, slice, h * w)) {
      td.append(el("div", { class: "kv-note kv-constant", title: "The score does not change with the input "
        + "here (a model that ignores its input, dead units or a saturated output)." }, "constant map: explains nothing"));
    }
    const [fx, fy, fw, fh] = placement(header, maps.shape, images.shape);

    const offscreen = document.createElement("canvas");
    offscreen.width = w; offscreen.height = h;
    let image = null;
    const paint = () => {
      if (!image) return;
      let remap = null;
      if (settings.scale === "method") {
        const lo = Math.min(...maps.lo), hi = Math.max(...maps.hi);
        const a = maps.lo[slice], b = maps.hi[slice];
        const span = hi > lo ? hi - lo : 1;
        remap = (q) => Math.round(Math.min(255, Math.max(0, ((a + (q / 255) * (b - a) - lo) / span) * 255)));
      }
      if (inverted(series.method, header)) {
        const inner = remap;
        remap = inner ? (q) => 255 - inner(q) : (q) => 255 - q;
      }
      offscreen.getContext("2d").putImageData(colorize(maps.q, slice * h * w, w, h, settings.colormap, remap), 0, 0);
      const context = canvas.getContext("2d");
      context.globalAlpha = 1;
      context.imageSmoothingEnabled = image.naturalWidth > CELL / 2;
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      context.globalAlpha = settings.opacity;
      context.imageSmoothingEnabled = !isOcclusion(header) && w > 8;
      context.drawImage(offscreen, fx * canvas.width, fy * canvas.height, fw * canvas.width, fh * canvas.height);
      context.globalAlpha = 1;
      canvas.dataset.painted = `${settings.colormap}|${settings.opacity}|${settings.scale}|${inverted(series.method, header)}`;
    };
    painters.push(paint);
    whenVisible(td, () => {
      loadImage(imageURL(record, i)).then((loaded) => { image = loaded; sizeCanvas(canvas, image); paint(); }).catch(() => {});
    });
    canvas.addEventListener("mousemove", (event) => {
      const box = canvas.getBoundingClientRect();
      const x = Math.min(w - 1, Math.max(0, Math.floor((((event.clientX - box.left) / box.width - fx) / fw) * w)));
      const y = Math.min(h - 1, Math.max(0, Math.floor((((event.clientY - box.top) / box.height - fy) / fh) * h)));
      readout.textContent = `(${x}, ${y}) = ${fmt(maps.value(slice * h * w + y * w + x))}`;
    });
    canvas.addEventListener("mouseleave", () => { readout.textContent = "\u00a0"; });
    return td;
  }

  // ---------------------------------------------------------------- charts

  const scalarCache = new Map(); // "run|tag" -> points

  async function drawCharts() {
    const scalars = selection.scalars.filter((s) => !settings.hidden.has(s.method));
    const metrics = [...new Set(scalars.map((s) => s.metric))].sort();
    const missing = scalars.filter((s) => !scalarCache.has(`${selection.run}|${s.tag}`));
    await Promise.allSettled(missing.map((s) => api.fetchJSON("scalars", { run: selection.run, tag: s.tag })
      .then((body) => scalarCache.set(`${selection.run}|${s.tag}`, body.points))));
    charts.replaceChildren(...metrics.map((metric) => chart(metric, scalars.filter((s) => s.metric === metric))));
  }

  function chart(metric, scalars) {
    return lineChart({
      key: metric,
      title: metric.replace(/_/g, " "),
      hint: directionHint(HIGHER_IS_BETTER[metric]),
      cursor: selection.step,
      lines: scalars.map((s) => ({
        name: s.method, color: colorForMethod(s.method), points: scalarCache.get(`${selection.run}|${s.tag}`) || [],
      })),
    });
  }

  function colorForMethod(method) {
    const series = mapSeries().find((s) => s.method === method);
    return series ? methodColor(series.tag) : "#888";
  }

  // ---------------------------------------------------------------- comparison

  let comparisonAbort = null;

  async function loadComparison() {
    if (comparisonAbort) comparisonAbort.abort();
    const series = selection.series.find((s) => s.method === COMPARISON);
    const step = series ? stepFor(series.tag) : null;
    comparisonBox.hidden = !series;
    if (!series || step === null) {
      comparison.clear();
      if (series) comparison.element.append(el("p", { class: "kv-empty" }, `No comparison at or before step ${selection.step}.`));
      return;
    }
    comparisonAbort = new AbortController();
    const signal = comparisonAbort.signal;
    const key = `${selection.run}|${series.tag}|${step}`;
    try {
      const record = records.get(key) || await api.fetchJSON("record", { run: selection.run, tag: series.tag, step }, signal);
      if (signal.aborted) return;
      records.set(key, record);
      comparisonTitle.textContent = `Method comparison at step ${step}`;
      comparison.show(record, step !== selection.step ? `from step ${step}` : "");
    } catch (error) {
      if (signal.aborted) return;
      comparison.clear();
      comparison.element.append(el("p", { class: "kv-error" }, String(error.message || error)));
    }
  }

  return {
    update(next) {
      const key = [next.run, next.steps.length, ...next.series.map((s) => s.tag)].join("\u0000");
      selection = next;
      if (key !== chartKey) { // another run, or a reload brought new steps
        scalarCache.clear();
        chartKey = key;
        buildMethodBox();
      }
      const maps = mapSeries().length > 0; // a run may hold only a comparison
      controls.hidden = !maps;
      main.hidden = !maps;
      loadComparison();
      if (maps) loadStep();
    },
    destroy() {
      if (abort) abort.abort();
      if (comparisonAbort) comparisonAbort.abort();
      resized.disconnect();
      window.removeEventListener("resize", fitGrid);
      host.replaceChildren();
    },
  };
}
