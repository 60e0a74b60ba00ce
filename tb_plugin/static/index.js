// The kerasviz dashboard: an ES module loaded by TensorBoard's plugin iframe,
// which calls the exported render(). No build step, nothing from the internet.
//
// The shell owns what every family shares: the run chooser, the family tabs,
// the step slider (one record per step = per epoch) and the status line. What a
// family's records look like is up to its view, registered in VIEWS below.

import { el, fetchJSON, routeURL, debounce, readLink } from "./common.js";
import attribution from "./views/attribution.js";
import activations from "./views/activations.js";
import synthesis from "./views/synthesis.js";
import features from "./views/features.js";
import dataset from "./views/dataset.js";
import regions from "./views/regions.js";
import blocks from "./views/blocks.js";
import microscope from "./views/microscope.js";
import concepts from "./views/concepts.js";
import generic from "./views/generic.js";

// The view registry. A view is a module exporting
//   { family: "attribution", title: "Attribution",
//     mount(host, api) -> { update(selection), destroy() } }
// where `selection` = { run, series: [{tag, method, ...}], scalars: [{tag, method, metric}],
// step, steps, stepsByTag: {tag: [steps]} } and `api` = { fetchJSON, routeURL, setStatus }.
// Adding a family (filters, embeddings, patches, generated images) means writing
// views/<family>.js and adding it to this list; families without a view get the generic one.
// A view with `ownsSteps: true` (the microscope: its steps are channels) gets no step
// slider and handles the arrow keys itself.
const VIEWS = [attribution, activations, synthesis, features, dataset, microscope, blocks, concepts, regions];

// The tab a run opens on: the first of these it holds (the README's tour order), then the others by name.
const FAMILY_ORDER = [
  "attribution", "activations", "synthesis", "features", "dataset", "microscope", "blocks", "concepts", "regions",
];

function familyRank(family) {
  const k = FAMILY_ORDER.indexOf(family);
  return k < 0 ? FAMILY_ORDER.length : k;
}

export function viewFor(family) {
  return VIEWS.find((view) => view.family === family) || generic;
}

const state = { generation: 0, runs: [], run: null, family: null, series: [], steps: [], stepsByTag: {}, view: null, viewFamily: null };
const ui = {};

function setStatus(message, kind = "info") {
  ui.status.textContent = message || "";
  ui.status.dataset.kind = kind;
}

const api = { fetchJSON, routeURL, setStatus };

function currentRun() {
  return state.runs.find((run) => run.name === state.run) || null;
}

function buildShell() {
  document.head.append(el("link", { rel: "stylesheet", href: routeURL("style.css") }));
  document.body.classList.add("kv-body");
  ui.root = el("div", { id: "kv-root" });
  const bar = el("div", { class: "kv-bar" });
  ui.run = el("select", { id: "kv-run", "aria-label": "run" });
  ui.tabs = el("div", { class: "kv-tabs", role: "tablist" });
  ui.step = el("input", { id: "kv-step", type: "range", min: "0", max: "0", value: "0", "aria-label": "step" });
  ui.stepLabel = el("span", { id: "kv-step-label", class: "kv-step-label" }, "step –");
  ui.reload = el("button", { id: "kv-reload", type: "button", title: "Reload runs and steps" }, "↻");
  bar.append(
    el("label", { class: "kv-field", for: "kv-run" }, "Run"), ui.run,
    ui.tabs,
    el("label", { class: "kv-field", for: "kv-step" }, "Step"), ui.step, ui.stepLabel, ui.reload,
  );
  ui.warnings = el("div", { id: "kv-warnings", class: "kv-warnings" });
  ui.status = el("div", { id: "kv-status", class: "kv-status" });
  ui.view = el("div", { id: "kv-view" });
  ui.root.append(bar, ui.warnings, ui.status, ui.view);
  document.body.append(ui.root);

  ui.run.addEventListener("change", () => selectRun(ui.run.value));
  const pushStep = debounce(() => updateView(), 120);
  ui.step.addEventListener("input", () => { showStepLabel(); pushStep(); });
  ui.reload.addEventListener("click", () => loadRuns());
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
    if (viewFor(state.family).ownsSteps) return;
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      ui.step.value = String(Number(ui.step.value) + (event.key === "ArrowLeft" ? -1 : 1));
      ui.step.dispatchEvent(new Event("input"));
    }
  });
}

function showStepLabel() {
  const step = state.steps[Number(ui.step.value)];
  ui.stepLabel.textContent = step === undefined ? "step –" : `step ${step}  (${Number(ui.step.value) + 1}/${state.steps.length})`;
}

async function loadRuns() {
  setStatus("Loading runs…");
  let body;
  try {
    body = await fetchJSON("runs");
  } catch (error) {
    setStatus(String(error.message || error), "error");
    return;
  }
  state.runs = body.runs || [];
  ui.run.replaceChildren(...state.runs.map((run) => el("option", { value: run.name }, run.name)));
  if (!state.runs.length) {
    setStatus("No kerasviz records in this logdir yet. Attach a kerasviz callback to model.fit().", "empty");
    ui.view.replaceChildren();
    return;
  }
  setStatus("");
  const readable = state.runs.find((run) => run.tags.some((tag) => !tag.error)) || state.runs[0];
  const linked = readLink();
  const keep = currentRun() ? state.run : state.runs.some((run) => run.name === linked.run) ? linked.run : readable.name;
  ui.run.value = keep;
  await selectRun(keep);
}

async function selectRun(name) {
  state.run = name;
  const run = currentRun();
  if (!run) return;
  const broken = run.tags.filter((tag) => tag.error);
  ui.warnings.replaceChildren(...broken.map((tag) => el("div", { class: "kv-warning" }, `${tag.tag}: ${tag.error}`)));
  const families = [...new Set(run.tags.filter((tag) => !tag.error).map((tag) => tag.family))]
    .sort((a, b) => familyRank(a) - familyRank(b) || (a < b ? -1 : a > b ? 1 : 0));
  ui.tabs.replaceChildren(...families.map((family) => {
    const button = el("button", { type: "button", role: "tab", class: "kv-tab", dataset: { family } }, viewFor(family).family === family ? viewFor(family).title : family);
    button.addEventListener("click", () => selectFamily(family));
    return button;
  }));
  if (!families.length) {
    setStatus("This run holds no readable kerasviz records.", "empty");
    destroyView();
    return;
  }
  const linked = readLink().family;
  const family = families.includes(state.family) ? state.family : families.includes(linked) ? linked : families[0];
  await selectFamily(family);
}

function destroyView() {
  if (state.view) state.view.destroy();
  state.view = null; state.viewFamily = null;
  ui.view.replaceChildren();
}

async function selectFamily(family) {
  const generation = ++state.generation; // a newer choice made while we wait wins
  state.family = family;
  for (const tab of ui.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.family === family));
  const run = currentRun();
  state.series = run.tags.filter((tag) => !tag.error && tag.family === family);
  setStatus("Loading steps…");
  const series = state.series;
  const results = await Promise.allSettled(series.map((one) => fetchJSON("steps", { run: run.name, tag: one.tag })));
  if (generation !== state.generation) return;
  state.stepsByTag = {};
  const all = new Set();
  results.forEach((result, k) => {
    if (result.status !== "fulfilled") return;
    state.stepsByTag[series[k].tag] = result.value.steps.map((s) => s.step);
    for (const s of result.value.steps) all.add(s.step);
  });
  // Follow the latest step when the slider was at the end (also after a reload);
  // otherwise keep the same step, to compare runs at one epoch.
  const atEnd = Number(ui.step.value) >= state.steps.length - 1;
  const previous = state.steps[Number(ui.step.value)];
  state.steps = [...all].sort((a, b) => a - b);
  ui.step.max = String(Math.max(0, state.steps.length - 1));
  ui.step.disabled = state.steps.length < 2 || Boolean(viewFor(family).ownsSteps);
  ui.root.classList.toggle("kv-no-steps", Boolean(viewFor(family).ownsSteps));
  const keep = atEnd ? -1 : state.steps.indexOf(previous);
  ui.step.value = String(keep >= 0 ? keep : state.steps.length - 1);
  showStepLabel();
  setStatus(state.steps.length ? "" : "No steps readable for this family.", state.steps.length ? "info" : "empty");
  if (state.viewFamily !== family) {
    destroyView();
    const view = viewFor(family);
    state.view = view.mount(ui.view, api);
    state.viewFamily = family;
  }
  updateView();
}

function updateView() {
  if (!state.view || !state.steps.length) return;
  const run = currentRun();
  state.view.update({
    run: state.run,
    family: state.family,
    series: state.series,
    scalars: (run ? run.scalars : []).filter((scalar) => scalar.family === state.family),
    step: state.steps[Number(ui.step.value)],
    steps: state.steps,
    stepsByTag: state.stepsByTag,
  });
}

export async function render() {
  buildShell();
  await loadRuns();
}
