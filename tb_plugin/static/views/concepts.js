// The "concepts" family: a class's CRAFT concepts (`kerasviz.inside.write_concepts`). Per record:
// `total` and `first_order` ([k], each concept's Sobol indices: its importance to the class),
// `crops` (uint8 [k * m, s, s, C], each concept's m most typical patches, concept by concept),
// `images` (uint8 [N, H, W, C]) and `maps` ([N, k, h, w], where each concept is in each image).
// Concept cards ranked by importance; a click on one shows its maps over the images. A record
// with `header.kind === "tcav"` (`kerasviz.inside.write_tcav`) is a table of TCAV's tests instead:
// a row per concept and class, its TCAV score against the random concepts', p-value, significance.

import { el, routeURL, decodeArray, loadImage, className, fmt } from "../common.js";
import { colorize } from "../colormaps.js";
import { Records, seriesBlocks, seriesSection, showError, fromStep } from "./toolkit.js";

export default { family: "concepts", title: "Concepts", mount };

const CELL = 160; // CSS pixels of an image with a concept map
const CROP = 56; // CSS pixels of a patch

function imageURL(selection, tag, step, array, index) {
  return routeURL("image", { run: selection.run, tag, step, array, index });
}

/** TCAV's significance tests as a table: a row per concept and class (`header.rows`). */
function tcavTable(header) {
  const table = el("table", { class: "kv-tcav" });
  const head = el("tr", {});
  for (const name of ["concept", "class", "TCAV score", "random concepts", "p-value", "significant", "CAV accuracy"]) {
    head.append(el("th", {}, name));
  }
  table.append(head);
  for (const row of Array.isArray(header.rows) ? header.rows : []) {
    const tr = el("tr", { class: row.significant ? "kv-tcav-significant" : "", dataset: { concept: String(row.concept) } });
    const bar = el("span", { class: "kv-tcav-bar" });
    bar.style.width = `${Math.round(80 * Math.max(0, Math.min(1, Number(row.score) || 0)))}px`;
    const score = el("td", {});
    score.append(el("span", {}, fmt(row.score)), bar);
    tr.append(el("td", {}, String(row.concept)), el("td", {}, className(header, row.class)), score,
      el("td", {}, `${fmt(row.random_mean)} ± ${fmt(row.random_std)}`), el("td", {}, fmt(row.p_value)),
      el("td", {}, row.significant ? "yes" : "no"), el("td", {}, fmt(row.accuracy)));
    table.append(tr);
  }
  return table;
}

/** The image under concept c's map (inferno; each map to its own range). */
function paintMap(canvas, picture, maps, i, c) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(CELL * ratio);
  canvas.height = Math.round(CELL * ratio * (picture.naturalHeight / picture.naturalWidth || 1));
  canvas.style.width = `${CELL}px`;
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const [, k, h, w] = maps.shape;
  const slice = i * k + c;
  if (maps.q && maps.hi[slice] > maps.lo[slice]) {
    const layer = document.createElement("canvas");
    layer.width = w; layer.height = h;
    layer.getContext("2d").putImageData(colorize(maps.q, slice * h * w, w, h, "inferno"), 0, 0);
    context.globalAlpha = 0.6;
    context.drawImage(layer, 0, 0, canvas.width, canvas.height);
    context.globalAlpha = 1;
  }
  canvas.dataset.painted = String(c);
}

function mount(host, api) {
  const records = new Records(api);
  const box = el("div", { class: "kv-concepts", id: "kv-concepts" });
  host.append(box);

  async function block(selection, series, signal) {
    const { section, step, record } = await seriesSection("kv-concepts-record", selection, series, signal, records);
    if (!record) return section;
    const header = record.header || {};
    if (header.kind === "tcav") {
      section.append(el("div", { class: "kv-synth-info" }, `TCAV at ${header.layer || "?"}: the share of each class's `
        + "images whose class score rises along the concept's direction, against random concepts (Kim et al., 2018)"),
      tcavTable(header));
      section.dataset.shown = `${selection.run}|${series.tag}|${step}`;
      return section;
    }
    const a = record.arrays;
    const total = decodeArray(a.total), first = decodeArray(a.first_order), maps = decodeArray(a.maps);
    if (![total, first, maps].every((x) => x && !x.unavailable) || maps.shape.length !== 4 || !a.crops
        || a.crops.encoding !== "image" || !a.images || a.images.encoding !== "image") {
      showError(section, "This record needs `total`, `first_order` [k], `crops`, `images` and `maps` [N, k, h, w].");
      return section;
    }
    const k = total.shape[0], perConcept = Number(header.patches_per_concept) || 1;
    const info = el("div", { class: "kv-synth-info" });
    info.append(el("span", {}, `the concepts of ${className(header, header.target)} at ${header.layer}`),
      el("span", {}, "importance: total Sobol index (first order)"));
    if (typeof header.reconstruction_error === "number") info.append(el("span", {}, `NMF error ${fmt(header.reconstruction_error)}`));
    const older = fromStep(step, selection);
    if (older) info.append(older);
    section.append(info);

    const order = [...Array(k).keys()].sort((x, y) => total.value(y) - total.value(x));
    const top = Math.max(...order.map((c) => total.value(c)), 1e-12);
    const cards = el("div", { class: "kv-concepts-cards" });
    const gallery = el("div", { class: "kv-concepts-maps" });
    const canvases = [], pictures = [];
    for (let i = 0; i < a.images.shape[0]; i++) {
      const canvas = el("canvas", { class: "kv-concepts-map", dataset: { image: String(i) } });
      canvases.push(canvas);
      gallery.append(canvas);
    }
    let chosen = order[0];
    const repaint = () => {
      canvases.forEach((canvas, i) => { if (pictures[i]) paintMap(canvas, pictures[i], maps, i, chosen); });
      for (const card of cards.children) card.setAttribute("aria-pressed", String(Number(card.dataset.concept) === chosen));
      gallery.dataset.concept = String(chosen);
    };
    for (const c of order) {
      const card = el("button", { type: "button", class: "kv-concepts-card", dataset: { concept: String(c) } });
      const bar = el("span", { class: "kv-concepts-bar" });
      bar.style.width = `${Math.round(90 * Math.max(0, total.value(c)) / top)}px`;
      const strip = el("span", { class: "kv-concepts-crops" });
      for (let m = 0; m < perConcept; m++) {
        strip.append(el("img", { src: imageURL(selection, series.tag, step, "crops", c * perConcept + m),
          alt: `concept ${c} patch ${m}`, width: String(CROP) }));
      }
      card.append(el("span", { class: "kv-concepts-value" }, `concept ${c}: ${fmt(total.value(c))} (${fmt(first.value(c))})`), bar, strip);
      card.addEventListener("click", () => { chosen = c; repaint(); });
      cards.append(card);
    }
    section.append(cards, el("p", { class: "kv-concepts-where" }, "Where the chosen concept is in each image:"), gallery);
    Promise.all(canvases.map((_, i) => loadImage(imageURL(selection, series.tag, step, "images", i))))
      .then((loaded) => { loaded.forEach((p, i) => { pictures[i] = p; }); repaint(); })
      .catch(() => showError(section, "The images could not be loaded."));
    section.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
    return section;
  }

  return seriesBlocks(host, box, block);
}
