// The "features" family: what a layer's channels respond to, and where.
// Tags `kerasviz/features/<method>/<layer, "/" as "__">`, one sub-tab per method:
//  - feature_visualization: per channel the image that excites it most (array
//    `images`, uint8 [N, H, W, C]; header `channels` [N], `objectives` [N]) at the
//    chosen step, and the chosen channel's image at every recorded step in a row,
//    so its forming over training reads left to right;
//  - feature_maps (views/feature_maps.js): per probe image, its maps as a grid.
// A layer chooser when several layers are recorded, a channel chooser; the shell's
// step slider picks the epoch. Names go in as text, never as HTML.

import { el, routeURL, fmt } from "../common.js";
import { mountSubtabs } from "./subtabs.js";
import { layerView, Records, showError } from "./toolkit.js";
import { featureMapsView } from "./feature_maps.js";

export default { family: "features", title: "Features", mount };

const METHODS = [
  { method: "feature_visualization", title: "Feature visualization", make: featureVisualizationView },
  { method: "feature_maps", title: "Feature maps", make: featureMapsView },
];
const MAX_TIMELINE = 40; // steps shown in the "over training" row (evenly spread, the current one always)
const MAX_IMAGES = 256;

function imageURL(run, tag, step, index) {
  return routeURL("image", { run, tag, step, array: "images", index });
}

/** Up to `max` of `steps` (ascending), evenly spread, first, last and `current` always among them. */
export function spread(steps, current, max = MAX_TIMELINE) {
  if (steps.length <= max) return steps;
  const picked = new Set([steps[0], steps[steps.length - 1]]);
  if (steps.includes(current)) picked.add(current);
  for (let k = 0; picked.size < max && k < max; k++) picked.add(steps[Math.round((k * (steps.length - 1)) / (max - 1))]);
  return steps.filter((s) => picked.has(s));
}

function channelsOf(header, count) {
  const channels = Array.isArray(header.channels) ? header.channels : [];
  return channels.length === count && channels.every((c) => Number.isInteger(c)) ? channels : null;
}

function figure(src, caption, extra = {}) {
  const node = el("figure", { class: "kv-feat-fig", ...extra });
  node.append(el("img", { src, alt: caption.replace(/\n/g, " ") }), el("figcaption", {}, caption));
  return node;
}

function featureVisualizationView(host, api, records) {
  let chosen = null; // the channel followed over training
  const channel = el("select", { id: "kv-feat-channel", "aria-label": "channel" });
  const channelBox = el("span", { class: "kv-act-layer" });
  channelBox.append(el("label", { class: "kv-field", for: "kv-feat-channel" }, "Channel"), channel);
  const gallery = el("div", { class: "kv-feat-gallery", id: "kv-feat-gallery" });
  const timelineTitle = el("h4", { class: "kv-feat-title" });
  const timeline = el("div", { class: "kv-feat-timeline", id: "kv-feat-timeline" });
  const clear = () => { timeline.replaceChildren(); timelineTitle.textContent = ""; };
  const view = layerView(host, api, {
    id: "kv-feat", what: "feature visualization of this layer", records, controls: [channelBox],
    body: [gallery, timelineTitle, timeline], errors: gallery, draw, clear,
  });
  channel.addEventListener("change", () => { chosen = Number(channel.value); view.refresh(); });

  async function draw({ selection, series, step, record: current, signal }) {
    const header = current.header || {};
    const images = current.arrays.images;
    const count = images && images.encoding === "image" ? images.shape[0] : 0;
    const channels = channelsOf(header, count);
    if (!count || !channels) {
      view.info.replaceChildren(); clear();
      showError(gallery, "This record needs `images` (uint8 [N, H, W, C]) and one header `channels` entry per image.");
      return;
    }
    const objectives = Array.isArray(header.objectives) ? header.objectives : [];
    const unique = [...new Set(channels)];
    if (!unique.includes(chosen)) chosen = unique[0];
    channel.replaceChildren(...unique.map((c) => el("option", { value: String(c) }, String(c))));
    channel.value = String(chosen);
    const parts = [`${unique.length} channels`];
    if (typeof header.steps === "number") parts.push(`${header.steps} optimization steps, seed ${header.seed}`);
    parts.push("under each image: its channel's mean activation");
    view.describe(`layer ${header.layer || "?"}`, parts, step);

    const figures = [];
    for (let i = 0; i < Math.min(count, MAX_IMAGES); i++) {
      const c = channels[i];
      const value = typeof objectives[i] === "number" ? ` · ${fmt(objectives[i])}` : "";
      const node = figure(imageURL(selection.run, series.tag, step, i), `channel ${c}${value}`,
        { dataset: { channel: String(c) }, title: "follow this channel over training" });
      if (c === chosen) node.classList.add("kv-feat-chosen");
      node.addEventListener("click", () => { chosen = c; view.refresh(); });
      figures.push(node);
    }
    gallery.replaceChildren(...figures);

    const steps = spread(selection.stepsByTag[series.tag] || [], step);
    const cells = await timelineCells(records, selection, series, steps, current, chosen, signal);
    if (signal.aborted) return;
    timelineTitle.textContent = `channel ${chosen} over training (${steps.length} of ${(selection.stepsByTag[series.tag] || []).length} steps)`;
    timeline.replaceChildren(...cells);
    host.dataset.shown = `${selection.run}|${series.tag}|${step}|${chosen}`; // what is shown (tests wait on it)
  }

  return view;
}

/**
 * The figures of channel `chosen` at each of `steps` (the first image of the channel in
 * each record; `current` is the record of the step shown), or a note where it is missing.
 */
function timelineCells(records, selection, series, steps, current, chosen, signal) {
  return Promise.all(steps.map(async (s) => {
    let other;
    try {
      other = s === current.step ? current : await records.get(selection.run, series.tag, s, signal);
    } catch (error) {
      return el("figure", { class: "kv-feat-fig kv-feat-missing" }, `step ${s}: unreadable`);
    }
    const h = other.header || {};
    const k = (channelsOf(h, other.arrays.images ? other.arrays.images.shape[0] : 0) || []).indexOf(chosen);
    if (k < 0) return el("figure", { class: "kv-feat-fig kv-feat-missing" }, `step ${s}: no channel ${chosen}`);
    const value = Array.isArray(h.objectives) && typeof h.objectives[k] === "number" ? ` · ${fmt(h.objectives[k])}` : "";
    const node = figure(imageURL(selection.run, series.tag, s, k), `step ${s}${value}`, { dataset: { step: String(s) } });
    if (s === current.step) node.classList.add("kv-feat-current");
    return node;
  }));
}

function mount(host, api) {
  const records = new Records(api, 96);
  const views = METHODS.map((m) => ({ method: m.method, title: m.title, mount: (sub, a) => m.make(sub, a, records) }));
  return mountSubtabs(host, api, views, { tabs: "kv-feat-methods", body: "kv-feat-body" }, "kv-feat-view");
}
