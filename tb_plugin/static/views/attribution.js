// Attribution view: one row per image, one column per method (views/attribution_grid.js), in
// one column group per input for a multi-input model (its series `.../<method>/input.<name>`);
// maps coloured and blended over the image on the client (canvas), so colormap, opacity,
// class and scale change without a request. Each metric per method over steps as small
// SVG line charts, with its direction (views/attribution_charts.js). A comparison of
// methods (`kerasviz.metrics.compare(...).write`) as a sortable table above the grid
// (views/comparison.js).

import { el, className } from "../common.js";
import { COLORMAPS, colorbar } from "../colormaps.js";
import { Records, recordAt } from "./toolkit.js";
import { attributionGrid } from "./attribution_grid.js";
import { metricCharts } from "./attribution_charts.js";
import { COMPARISON, comparisonSection } from "./comparison.js";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const MIN_GRID_HEIGHT = 240; // the grid box never gets shorter than this (the page scrolls instead)
const BOTTOM_GAP = 28; // CSS pixels below the grid box: the page's bottom padding and a margin

export default { family: "attribution", title: "Attribution", mount };

/** A labelled control: [<label>, control]. */
function field(id, text, control) {
  return [el("label", { class: "kv-field", for: id }, text), control];
}

/** The classes the records hold maps of (`header.map_classes`), as [[class, header]]. */
function mapClasses(current) {
  const classes = new Map();
  for (const { record } of current) {
    const maps = record && record.arrays.maps;
    const list = record && record.header.map_classes;
    if (maps && maps.shape.length === 4 && Array.isArray(list)) list.forEach((k) => classes.set(k, record.header));
  }
  return [...classes.entries()];
}

/** The controls: methods shown, class, colormap (with its colour bar), opacity and scale. */
function controlsRow() {
  const methodBox = el("div", { class: "kv-methods", id: "kv-methods" });
  const classSelect = el("select", { id: "kv-class", "aria-label": "class" });
  const cmapSelect = el("select", { id: "kv-colormap", "aria-label": "colormap" });
  cmapSelect.append(...COLORMAPS.map((name) => el("option", { value: name }, name)));
  const bar = el("span", { class: "kv-colorbar-box" });
  const opacity = el("input", { id: "kv-opacity", type: "range", min: "0", max: "1", step: "0.05", value: "0.6", "aria-label": "opacity" });
  const scale = el("select", { id: "kv-scale", "aria-label": "scale" });
  scale.append(el("option", { value: "map" }, "each map"), el("option", { value: "method" }, "shared per method"));
  const controls = el("div", { class: "kv-controls" });
  controls.append(methodBox, ...field("kv-class", "Class", classSelect), ...field("kv-colormap", "Colormap", cmapSelect), bar,
    ...field("kv-opacity", "Opacity", opacity), ...field("kv-scale", "Scale", scale));
  return { controls, methodBox, classSelect, cmapSelect, bar, opacity, scale };
}

/** Offers the classes the records hold maps of (`mapClasses`); keeps the chosen one where it can. */
function offerClasses(classSelect, settings, classes) {
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

function mount(host, api) {
  const settings = { colormap: "inferno", opacity: 0.6, scale: "map", classIndex: 0, hidden: new Set(), invert: new Map() };
  const records = new Records(api, 48);
  let selection = null;
  let abort = null;
  let current = []; // [{series, step, record}] of the shown methods
  let chartKey = null;

  const { controls, methodBox, classSelect, cmapSelect, bar, opacity, scale } = controlsRow();
  // The charts sit beside the grid on wide screens and above it on narrow ones (style.css), in a
  // panel that folds away; the grid scrolls inside its own box, sized to end at the window's
  // bottom, so its sticky headers and its sideways scrollbar stay on screen.
  const chartBox = el("div", { class: "kv-charts", id: "kv-charts" });
  const chartsPanel = el("details", { class: "kv-charts-panel", id: "kv-charts-panel", open: true });
  chartsPanel.append(el("summary", {}, "Metrics over steps"), chartBox);
  const gridBox = el("div", { class: "kv-grid-box", id: "kv-grid-box" });
  const main = el("div", { class: "kv-main" });
  main.append(gridBox, chartsPanel);
  const comparison = comparisonSection(api, records);
  host.append(comparison.element, controls, main);
  const grid = attributionGrid(gridBox, settings, methodColor);
  const charts = metricCharts(api, chartBox);
  const fitGrid = () => {
    const top = gridBox.getBoundingClientRect().top + window.scrollY;
    gridBox.style.maxHeight = `${Math.max(MIN_GRID_HEIGHT, Math.floor(window.innerHeight - top - BOTTOM_GAP))}px`;
  };
  const resized = new ResizeObserver(() => fitGrid());
  resized.observe(controls);
  resized.observe(chartsPanel);
  window.addEventListener("resize", fitGrid);

  const refreshBar = () => bar.replaceChildren(colorbar(settings.colormap));
  refreshBar();
  cmapSelect.addEventListener("change", () => { settings.colormap = cmapSelect.value; refreshBar(); grid.repaint(); });
  opacity.addEventListener("input", () => { settings.opacity = Number(opacity.value); grid.repaint(); });
  scale.addEventListener("change", () => { settings.scale = scale.value; grid.repaint(); });
  classSelect.addEventListener("change", () => { settings.classIndex = Number(classSelect.value); showRecords(); });

  /** The series of maps (every series but the comparison's; a multi-input model's method has one per input). */
  function mapSeries() {
    return selection.series.filter((series) => series.method !== COMPARISON);
  }

  /** The methods of the series of maps, in order, each once. */
  function methods() {
    return [...new Set(mapSeries().map((s) => s.method))];
  }

  function colorForMethod(method) {
    const k = methods().indexOf(method);
    return k < 0 ? "#888" : PALETTE[k % PALETTE.length];
  }

  function methodColor(tag) {
    const series = mapSeries().find((s) => s.tag === tag);
    return colorForMethod(series ? series.method : null);
  }

  const drawCharts = () => charts.draw(selection, settings.hidden, colorForMethod);

  function buildMethodBox() {
    methodBox.replaceChildren(...methods().map((method) => {
      const box = el("input", { type: "checkbox", checked: !settings.hidden.has(method), dataset: { method } });
      box.addEventListener("change", () => {
        if (box.checked) settings.hidden.delete(method); else settings.hidden.add(method);
        loadStep();
        drawCharts();
      });
      const swatch = el("span", { class: "kv-swatch" });
      swatch.style.background = colorForMethod(method);
      const label = el("label", { class: "kv-method" });
      label.append(box, swatch, el("span", {}, method));
      return label;
    }));
  }

  async function loadStep() {
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    const visible = mapSeries().filter((series) => !settings.hidden.has(series.method));
    api.setStatus(`Loading step ${selection.step}…`);
    const results = await Promise.all(visible.map((series) => recordAt(selection, series, signal, { what: "record", records })));
    if (signal.aborted) return;
    const errors = results.filter((r) => r.error && !r.empty).map((r) => r.error);
    api.setStatus(errors.join("\n"), errors.length ? "error" : "info");
    current = visible.map((series, k) => ({ series, step: results[k].step, record: results[k].record || null }));
    showRecords();
  }

  function showRecords() {
    const classes = mapClasses(current);
    offerClasses(classSelect, settings, classes);
    const shown = current.filter((c) => c.record);
    if (!shown.length) {
      gridBox.replaceChildren(el("p", { class: "kv-empty" }, "No record of the chosen methods at or before this step."));
      return;
    }
    const chosenClass = classes.length ? classes[settings.classIndex][0] : null;
    grid.show(shown, selection, chosenClass);
    fitGrid();
    gridBox.dataset.key = `${selection.run}|${selection.step}|${chosenClass}`; // what is shown (tests wait on it)
    drawCharts();
  }

  return {
    update(next) {
      const key = [next.run, next.steps.length, ...next.series.map((s) => s.tag)].join("\u0000");
      selection = next;
      if (key !== chartKey) { // another run, or a reload brought new steps
        charts.reset();
        chartKey = key;
        buildMethodBox();
      }
      const maps = mapSeries().length > 0; // a run may hold only a comparison
      controls.hidden = !maps;
      main.hidden = !maps;
      comparison.update(selection);
      if (maps) loadStep();
    },
    destroy() {
      if (abort) abort.abort();
      comparison.cancel();
      resized.disconnect();
      window.removeEventListener("resize", fitGrid);
      host.replaceChildren();
    },
  };
}
