// The "microscope" family: a page per channel, and an activation atlas per layer
// (records of kerasviz.inside.microscope; format in kerasviz/inside/microscope_records.py).
//
// Series `kerasviz/microscope/channel/<layer>` hold one record per channel (step =
// channel), `kerasviz/microscope/atlas/<layer>` one record at step 0. The view owns
// its steps: the shell's step slider is hidden and ←/→ (or j/k) switch channels.
// A channel's record is read when it is shown (/record, cached; the neighbours are
// read ahead), its pictures are /image URLs. Where we are (run, layer, channel or
// atlas) is kept in the page's URL (`common.readLink`/`writeLink`): a link opens
// the same page, a reload restores it.

import { el, routeURL, fmt, readLink, writeLink } from "../common.js";
import { Records, errorText, showError } from "./toolkit.js";
import { atlasView } from "./microscope_atlas.js";

export default { family: "microscope", title: "Microscope", ownsSteps: true, mount };

function mount(host, api) {
  const records = new Records(api, 64);
  const state = { key: null, run: null, layers: [], layer: null, channel: null, mode: "channel", channels: {}, token: 0 };
  const layerList = el("div", { id: "kv-ms-layers", class: "kv-ms-layers", role: "listbox", "aria-label": "layers" });
  const prev = el("button", { type: "button", id: "kv-ms-prev", title: "Previous channel (←)" }, "◀");
  const next = el("button", { type: "button", id: "kv-ms-next", title: "Next channel (→)" }, "▶");
  const channelSelect = el("select", { id: "kv-ms-channel", "aria-label": "channel" });
  const modeChannel = el("button", { type: "button", id: "kv-ms-mode-channel", class: "kv-tab" }, "Channel");
  const modeAtlas = el("button", { type: "button", id: "kv-ms-mode-atlas", class: "kv-tab" }, "Atlas");
  const title = el("span", { id: "kv-ms-title", class: "kv-act-main" });
  const page = el("div", { id: "kv-ms-page", class: "kv-ms-page" });
  const atlasBox = el("div", { id: "kv-ms-atlas", class: "kv-ms-atlas-box" });
  const bar = el("div", { class: "kv-ms-bar" });
  bar.append(modeChannel, modeAtlas, prev, channelSelect, next, title);
  const main = el("div", { class: "kv-ms-main" });
  main.append(bar, page, atlasBox);
  const root = el("div", { id: "kv-ms", class: "kv-ms" });
  root.append(layerList, main);
  host.append(root);
  const atlas = atlasView(atlasBox, records);

  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  channelSelect.addEventListener("change", () => show(state.layer, Number(channelSelect.value), "channel"));
  modeChannel.addEventListener("click", () => show(state.layer, state.channel, "channel"));
  modeAtlas.addEventListener("click", () => show(state.layer, state.channel, "atlas"));
  const onKey = (event) => {
    const tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowLeft" || event.key === "k") { event.preventDefault(); step(-1); }
    if (event.key === "ArrowRight" || event.key === "j") { event.preventDefault(); step(1); }
  };
  document.addEventListener("keydown", onKey);

  function channelsOf(layer) { return state.channels[layer] || []; }

  function step(delta) {
    const list = channelsOf(state.layer);
    if (!list.length) return;
    const at = list.indexOf(state.channel);
    const k = Math.min(list.length - 1, Math.max(0, (at < 0 ? 0 : at) + delta));
    show(state.layer, list[k], "channel");
  }

  function update(selection) {
    const key = JSON.stringify([selection.run, selection.series.map((s) => [s.tag, selection.stepsByTag[s.tag] || []])]);
    if (key === state.key) return; // the same run and pages: nothing to redraw
    const sameRun = selection.run === state.run && state.layer !== null;
    Object.assign(state, { key, run: selection.run });
    const layers = new Map();
    for (const series of selection.series) {
      const layer = series.layer || series.tag;
      if (!layers.has(layer)) layers.set(layer, { channel: null, atlas: null });
      layers.get(layer)[series.method === "atlas" ? "atlas" : "channel"] = series.tag;
    }
    state.layers = [...layers.entries()].map(([name, tags]) => ({ name, ...tags }));
    state.channels = {};
    for (const layer of state.layers) {
      state.channels[layer.name] = (selection.stepsByTag[layer.channel] || []).slice().sort((a, b) => a - b);
    }
    layerList.replaceChildren(el("div", { class: "kv-field" }, "Layers"), ...state.layers.map((layer) => {
      const item = el("button", { type: "button", class: "kv-ms-layer", role: "option", dataset: { layer: layer.name } },
        `${layer.name} (${channelsOf(layer.name).length})`);
      item.addEventListener("click", () => show(layer.name, null, state.mode));
      return item;
    }));
    const link = readLink();
    const wanted = sameRun ? { layer: state.layer, channel: state.channel, mode: state.mode }
      : link.family === "microscope" && link.run === state.run ? link : {};
    if (layers.has(wanted.layer)) {
      show(wanted.layer, typeof wanted.channel === "number" ? wanted.channel : null, wanted.mode === "atlas" ? "atlas" : "channel");
    } else if (state.layers.length) show(state.layers[0].name, null, "channel");
    else showError(page, "This run holds no microscope records.");
  }

  function show(layer, channel, mode) {
    const entry = state.layers.find((l) => l.name === layer);
    if (!entry) return;
    const list = channelsOf(layer);
    if (channel === null || !list.includes(channel)) channel = list.length ? list[0] : null;
    Object.assign(state, { layer, channel, mode });
    writeLink({ family: "microscope", run: state.run, layer, channel, mode });
    for (const item of layerList.querySelectorAll(".kv-ms-layer")) item.setAttribute("aria-selected", String(item.dataset.layer === layer));
    modeChannel.setAttribute("aria-selected", String(mode === "channel"));
    modeAtlas.setAttribute("aria-selected", String(mode === "atlas"));
    channelSelect.replaceChildren(...list.map((c) => el("option", { value: String(c) }, `channel ${c}`)));
    if (channel !== null) channelSelect.value = String(channel);
    page.hidden = mode !== "channel";
    atlasBox.hidden = mode !== "atlas";
    if (mode === "atlas") {
      title.textContent = `atlas of ${layer}`;
      if (entry.atlas) atlas.show(state.run, entry.atlas, layer, channel);
      else showError(atlasBox, `No atlas record for layer ${layer}.`);
      return;
    }
    if (channel === null) { showError(page, `No channel pages for layer ${layer}.`); return; }
    title.textContent = `${layer} · channel ${channel}`;
    drawChannel(entry, channel);
    for (const c of [list[list.indexOf(channel) - 1], list[list.indexOf(channel) + 1]]) {
      if (c !== undefined) records.get(state.run, entry.channel, c).catch(() => {}); // read ahead
    }
  }

  async function drawChannel(entry, channel) {
    const token = ++state.token;
    page.dataset.loading = "true";
    let record;
    try {
      record = await records.get(state.run, entry.channel, channel);
    } catch (error) {
      if (token === state.token) showError(page, errorText(error));
      return;
    }
    if (token !== state.token) return;
    page.replaceChildren(...channelPage(record, entry));
    page.dataset.shown = `${state.run}|${entry.name}|${channel}`;
    delete page.dataset.loading;
  }

  function picture(record, array, index, cls, label) {
    const url = routeURL("image", { run: state.run, tag: record.tag, step: record.step, array, index });
    return el("img", { src: url, class: cls, alt: label, title: label });
  }

  function channelLink(layer, channel, weight) {
    const has = channelsOf(layer).includes(channel);
    const text = `${layer} #${channel}`;
    if (!has) return el("span", { class: "kv-ms-chip", title: `weight ${fmt(weight)} (no page)` }, `${text} · ${fmt(weight, 2)}`);
    const link = el("a", { href: "#", class: "kv-ms-chip kv-ms-link", dataset: { layer, channel: String(channel) },
      title: `weight ${fmt(weight)}` }, `${text} · ${fmt(weight, 2)}`);
    link.addEventListener("click", (event) => { event.preventDefault(); show(layer, channel, "channel"); });
    return link;
  }

  function channelPage(record, entry) {
    const h = record.header;
    const facets = record.arrays.facets ? record.arrays.facets.shape[0] : 0;
    const patches = record.arrays.patches ? record.arrays.patches.shape[0] : 0;
    const scores = (h.patches && h.patches.scores) || [];
    const vis = el("section", { class: "kv-ms-section" });
    vis.append(el("h3", {}, "Feature visualization"));
    const row = el("div", { class: "kv-ms-row", id: "kv-ms-facets" });
    for (let i = 0; i < facets; i++) {
      row.append(picture(record, "facets", i, i === 0 ? "kv-ms-fv" : "kv-ms-facet", i === 0 ? "feature visualization" : `facet ${i}`));
    }
    vis.append(row, el("p", { class: "kv-field" }, `mean activation ${fmt(h.objective)} · ${Math.max(0, facets - 1)} diverse facets`));
    const top = el("section", { class: "kv-ms-section" });
    top.append(el("h3", {}, "Top dataset patches"));
    const strip = el("div", { class: "kv-ms-row", id: "kv-ms-patches" });
    for (let i = 0; i < patches; i++) {
      const figure = el("figure", { class: "kv-ms-patch" });
      const image = (h.patches && h.patches.image_index) ? h.patches.image_index[i] : "?";
      figure.append(picture(record, "patches", i, "kv-ms-crop", `patch ${i}`),
        el("figcaption", {}, `${fmt(scores[i], 2)} · img ${image}`));
      strip.append(figure);
    }
    top.append(strip);
    const facts = el("section", { class: "kv-ms-section kv-ms-facts" });
    const d = h.dissection;
    facts.append(el("h3", {}, "Dissection"), el("p", { id: "kv-ms-dissection" }, d
      ? `${d.detector ? d.concept : "no concept"} (IoU ${fmt(d.iou)}${d.detector ? "" : `, best ${d.concept}`})`
        + (Array.isArray(d.top) ? ` · ${d.top.map((t) => `${t[0]} ${fmt(t[1], 2)}`).join(", ")}` : "")
      : "no concept masks were given"));
    facts.append(el("h3", {}, "Strongest inputs (by weight)"));
    const ins = el("div", { id: "kv-ms-inputs", class: "kv-ms-chips" });
    if (h.inputs && Array.isArray(h.inputs.channels)) {
      h.inputs.channels.forEach((c, i) => ins.append(channelLink(h.inputs.layer, c, h.inputs.weights[i])));
    } else ins.append(el("span", { class: "kv-field" }, "the image, or no convolution found"));
    facts.append(ins, el("h3", {}, "Strongest outputs (by weight)"));
    const outs = el("div", { id: "kv-ms-outputs", class: "kv-ms-chips" });
    for (const out of h.outputs || []) out.channels.forEach((c, i) => outs.append(channelLink(out.layer, c, out.weights[i])));
    if (!(h.outputs || []).length) outs.append(el("span", { class: "kv-field" }, "no convolution reads this layer"));
    facts.append(outs, el("h3", {}, "In the atlas"));
    const where = h.atlas || {};
    const go = el("a", { href: "#", id: "kv-ms-to-atlas", class: "kv-ms-link" },
      `cell ${(where.cell || []).join(", ")} of ${where.grid}×${where.grid}` +
      (where.centroid ? ` · centroid (${fmt(where.centroid[0], 2)}, ${fmt(where.centroid[1], 2)})` : ""));
    go.addEventListener("click", (event) => { event.preventDefault(); show(entry.name, h.channel, "atlas"); });
    facts.append(el("p", {}, "").appendChild(go).parentNode);
    const left = el("div", { class: "kv-ms-col" });
    left.append(vis, top);
    return [left, facts];
  }

  return {
    update,
    destroy() { document.removeEventListener("keydown", onKey); atlas.destroy(); },
  };
}
