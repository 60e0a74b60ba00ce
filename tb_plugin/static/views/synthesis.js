// The "synthesis" family: generated images (class visualizations and the like).
// Per record (tag `kerasviz/synthesis/<method>[/<suffix>]`): the generated images
// (array `images`, uint8 [N, H, W, C]) with their class names, the loss per
// optimization step (array `losses`, [N or 1, steps]) as a small chart, and the
// snapshots strip (array `snapshots`, uint8 [S, H, W, C]) when present. The
// shell's step slider picks the epoch. Names go in as text, never as HTML.

import { el, routeURL, decodeArray, className } from "../common.js";
import { lineChart } from "../charts.js";
import { Records, seriesBlocks, seriesSection, showError, fromStep } from "./toolkit.js";

export default { family: "synthesis", title: "Synthesis", mount };

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const MAX_IMAGES = 64;

function imageURL(selection, tag, step, array, index) {
  return routeURL("image", { run: selection.run, tag, step, array, index });
}

/** One line per row of `losses` ([rows, steps]); a single row is the mean over the images. */
function lossChart(header, losses) {
  const decoded = decodeArray(losses);
  if (!decoded || decoded.unavailable || decoded.shape.length !== 2) return null;
  const [rows, steps] = decoded.shape;
  const classes = Array.isArray(header.classes) ? header.classes : [];
  const lines = [];
  for (let r = 0; r < rows; r++) {
    const points = [];
    for (let s = 0; s < steps; s++) points.push({ step: s + 1, value: decoded.value(r * steps + s) });
    const name = rows === 1 ? "mean over images" : className(header, classes[r] !== undefined ? classes[r] : r);
    lines.push({ name, color: COLORS[r % COLORS.length], points });
  }
  return lineChart({ key: "losses", title: "objective per optimization step", lines, width: 320, height: 130,
    legend: rows > 1 });
}

function mount(host, api) {
  const records = new Records(api);
  const box = el("div", { class: "kv-synth", id: "kv-synth" });
  host.append(box);

  async function block(selection, series, signal) {
    const { section, step, record } = await seriesSection("kv-synth-record", selection, series, signal, records);
    if (!record) return section;
    const header = record.header || {};
    const info = el("div", { class: "kv-synth-info" });
    if (header.target) info.append(el("span", { class: "kv-synth-target" }, String(header.target)));
    if (typeof header.steps === "number") info.append(el("span", {}, `${header.steps} optimization steps`));
    if (Array.isArray(header.value_range)) info.append(el("span", {}, `value range [${header.value_range.join(", ")}]`));
    const older = fromStep(step, selection);
    if (older) info.append(older);
    section.append(info);

    const images = record.arrays.images;
    if (!images || images.encoding !== "image") {
      showError(section, "This record holds no `images` array of uint8 images.");
      return section;
    }
    const classes = Array.isArray(header.classes) ? header.classes : [];
    const gallery = el("div", { class: "kv-synth-images" });
    for (let i = 0; i < Math.min(images.shape[0], MAX_IMAGES); i++) {
      const label = classes[i] !== undefined ? className(header, classes[i]) : `image ${i}`;
      const figure = el("figure", { class: "kv-synth-image" });
      figure.append(el("img", { src: imageURL(selection, series.tag, step, "images", i), alt: label }),
        el("figcaption", {}, label));
      gallery.append(figure);
    }
    section.append(gallery);

    const row = el("div", { class: "kv-synth-row" });
    const chart = record.arrays.losses ? lossChart(header, record.arrays.losses) : null;
    if (chart) row.append(chart);
    const snapshots = record.arrays.snapshots;
    if (snapshots && snapshots.encoding === "image") {
      const strip = el("div", { class: "kv-synth-snapshots" });
      const every = Number(header.snapshot_every) || null;
      for (let s = 0; s < Math.min(snapshots.shape[0], MAX_IMAGES); s++) {
        const label = every ? `step ${(s + 1) * every}` : `snapshot ${s + 1}`;
        const figure = el("figure", {});
        figure.append(el("img", { src: imageURL(selection, series.tag, step, "snapshots", s), alt: label }),
          el("figcaption", {}, label));
        strip.append(figure);
      }
      const holder = el("div", {});
      holder.append(el("div", { class: "kv-note" }, "snapshots over the optimization"), strip);
      row.append(holder);
    }
    section.append(row);
    section.dataset.shown = `${selection.run}|${series.tag}|${step}`; // what is shown (tests wait on it)
    return section;
  }

  return seriesBlocks(host, box, block);
}
