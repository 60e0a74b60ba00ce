// The attribution grid: a row per image (the input, its true and predicted class), a
// column per method (the map over the image on a canvas). Colormap, opacity, scale and
// inversion come from the view's `settings` and are applied here, on the client: a
// change repaints the canvases without a request. Images load when their row scrolls
// into view; hovering a map reads its value.

import { el, decodeArray, loadImage, whenVisible, className, fmt, routeURL } from "../common.js";
import { colorize } from "../colormaps.js";
import { describe, isGrid, lowerIsImportant, placement, labelLines, percent, probability, targetOf } from "./attribution_parts.js";
import { vectorCell } from "./attribution_vector.js";

const CELL = 136; // CSS pixels per image cell

/** Maps whose low values matter (occlusion scores) start inverted; the user may flip any column. */
function inverted(settings, method, header) {
  return settings.invert.has(method) ? settings.invert.get(method) : lowerIsImportant(header);
}

function imageURL(record, i) {
  return routeURL("image", { run: record.run, tag: record.tag, step: record.step, index: i });
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

function columnHead(grid, { series, step, record }, selection) {
  const th = el("th", { class: "kv-col", dataset: { method: series.method } });
  const swatch = el("span", { class: "kv-swatch" });
  swatch.style.background = grid.methodColor(series.tag);
  th.append(swatch, el("span", { class: "kv-col-name" }, series.method));
  const header = record.header;
  const notes = step !== selection.step ? [`from step ${step}`] : [];
  notes.push(...describe(header, record.arrays.maps));
  for (const note of notes) th.append(el("div", { class: "kv-note" }, note));
  const invert = el("input", { type: "checkbox", class: "kv-invert", checked: inverted(grid.settings, series.method, header) });
  invert.addEventListener("change", () => { grid.settings.invert.set(series.method, invert.checked); grid.repaint(); });
  const lower = lowerIsImportant(header);
  const label = el("label", { class: "kv-note kv-invert-box", title: lower
    ? "Low values of this map mark what matters (e.g. the score with the occluder). Inverted, bright means important."
    : "Swap the colormap's ends." });
  label.append(invert, el("span", {}, lower ? "invert (low = important)" : "invert"));
  th.append(label);
  return th;
}

/** The input image of row i; `sticky`: the grid's first column, which stays put when the grid scrolls sideways. */
function inputCell(record, i, sticky = true) {
  const td = el("td", { class: sticky ? "kv-cell kv-input" : "kv-cell kv-input kv-input-more" });
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

/** `(q) -> level`: a map's 8-bit levels rescaled and inverted as the settings say (null: as they are). */
function remapper(settings, maps, slice, invert) {
  let remap = null;
  if (settings.scale === "method") {
    const lo = Math.min(...maps.lo), hi = Math.max(...maps.hi);
    const a = maps.lo[slice], b = maps.hi[slice];
    const span = hi > lo ? hi - lo : 1;
    remap = (q) => Math.round(Math.min(255, Math.max(0, ((a + (q / 255) * (b - a) - lo) / span) * 255)));
  }
  if (invert) {
    const inner = remap;
    remap = inner ? (q) => 255 - inner(q) : (q) => 255 - q;
  }
  return remap;
}

function mapCell(grid, { series, record }, i, chosenClass) {
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
  const { settings } = grid;
  const offscreen = document.createElement("canvas");
  offscreen.width = w; offscreen.height = h;
  let image = null;
  const paint = () => {
    if (!image) return;
    const invert = inverted(settings, series.method, header);
    const remap = remapper(settings, maps, slice, invert);
    offscreen.getContext("2d").putImageData(colorize(maps.q, slice * h * w, w, h, settings.colormap, remap), 0, 0);
    const context = canvas.getContext("2d");
    context.globalAlpha = 1;
    context.imageSmoothingEnabled = image.naturalWidth > CELL / 2;
    context.drawImage(image, 0, 0, canvas.width, canvas.height);
    context.globalAlpha = settings.opacity;
    context.imageSmoothingEnabled = !isGrid(header) && w > 8;
    context.drawImage(offscreen, fx * canvas.width, fy * canvas.height, fw * canvas.width, fh * canvas.height);
    context.globalAlpha = 1;
    canvas.dataset.painted = `${settings.colormap}|${settings.opacity}|${settings.scale}|${invert}`;
  };
  grid.painters.push(paint);
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

/**
 * The records `shown` in column groups, one per input of a multi-input model (`header.input`,
 * in the writer's order `header.inputs`): `[{name, kind, columns}]`, `kind` "image" (an input
 * column, then a map per method) or "vector" (a bar chart per method). One unnamed image
 * group when no record names an input (a single-input model).
 */
function columnGroups(shown) {
  const named = (c) => typeof c.record.header.input === "string";
  if (!shown.some(named)) return [{ name: null, kind: "image", columns: shown }];
  const groups = new Map();
  for (const c of shown) {
    const name = named(c) ? c.record.header.input : "";
    if (!groups.has(name)) groups.set(name, { name, kind: c.record.header.input_kind === "vector" ? "vector" : "image", columns: [] });
    groups.get(name).columns.push(c);
  }
  const order = shown.map((c) => c.record.header.inputs).find(Array.isArray) || [];
  const rank = (g) => (order.includes(g.name) ? order.indexOf(g.name) : order.length);
  return [...groups.values()].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function examples(record) {
  const array = record.arrays.images || record.arrays.attributions;
  return array ? array.shape[0] : 0;
}

/** The header: with input groups, a row of group titles (`th.kv-group`) over the columns' row. */
function headRows(grid, groups, selection) {
  const heads = el("tr", { class: "kv-heads" });
  const titles = el("tr", { class: "kv-groups" });
  for (const group of groups) {
    const span = group.columns.length + (group.kind === "image" ? 1 : 0);
    titles.append(el("th", { class: "kv-group", colspan: String(span), dataset: { input: group.name || "" } }, group.name));
    if (group.kind === "image") heads.append(el("th", { class: group.name === null ? null : "kv-input-head" }, "input"));
    for (const c of group.columns) {
      const th = columnHead(grid, c, selection);
      if (group.kind === "vector") th.querySelector(".kv-invert-box").remove(); // bars are signed: nothing to invert
      heads.append(th);
    }
  }
  return groups[0].name === null ? [heads] : [titles, heads];
}

/**
 * The grid in `box`. `show(shown, selection, chosenClass)` draws the records `shown`
 * (`[{series, step, record}]`, one column each, grouped by input for a multi-input model);
 * `repaint()` applies changed settings.
 */
export function attributionGrid(box, settings, methodColor) {
  const grid = { settings, methodColor, painters: [], repaint() { for (const paint of grid.painters) paint(); } };
  return {
    repaint: grid.repaint,
    show(shown, selection, chosenClass) {
      grid.painters = [];
      const groups = columnGroups(shown);
      const count = Math.max(...shown.map((c) => examples(c.record)));
      const table = el("table", { class: groups[0].name === null ? "kv-grid" : "kv-grid kv-grouped", id: "kv-grid" });
      const thead = el("thead");
      thead.append(...headRows(grid, groups, selection));
      const body = el("tbody");
      table.append(thead, body);
      for (let i = 0; i < count; i++) {
        const row = el("tr", { class: "kv-row", dataset: { index: String(i) } });
        for (const group of groups) {
          const input = group.name === null ? null : group.name;
          if (group.kind === "vector") {
            for (const c of group.columns) row.append(withInput(vectorCell(c, i), input));
            continue;
          }
          row.append(withInput(inputCell(group.columns[0].record, i, input === null || group === groups[0]), input));
          for (const c of group.columns) row.append(withInput(mapCell(grid, c, i, chosenClass), input));
        }
        body.append(row);
      }
      box.replaceChildren(table);
    },
  };
}

function withInput(td, input) {
  if (input !== null) td.dataset.input = input;
  return td;
}
