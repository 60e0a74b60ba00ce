// Fallback view for families without their own module: each series' header
// (as text) and its image arrays, so new record kinds show up before their
// dedicated view exists.

import { el, routeURL, whenVisible } from "../common.js";
import { errorText, seriesBlocks } from "./toolkit.js";

export default { family: "*", title: "Records", mount };

/** Thumbnails of the first 64 images of an image array (loaded as they scroll into view). */
function strip(selection, series, name, array) {
  const box = el("div", { class: "kv-strip" });
  for (let i = 0; i < Math.min(array.shape[0], 64); i++) {
    const img = el("img", { class: "kv-thumb", alt: `${name} ${i}`, loading: "lazy" });
    whenVisible(img, () => {
      img.src = routeURL("image", { run: selection.run, tag: series.tag, step: selection.step, index: i, array: name });
    });
    box.append(img);
  }
  return box;
}

function mount(host, api) {
  const box = el("div", { class: "kv-generic" });
  host.append(box);

  async function block(selection, series, signal) {
    const section = el("section", { class: "kv-record", dataset: { method: series.method } });
    section.append(el("h3", {}, `${series.method} (${series.tag})`));
    if (!(selection.stepsByTag[series.tag] || []).includes(selection.step)) {
      section.append(el("p", { class: "kv-note" }, `no record at step ${selection.step}`));
      return section;
    }
    try {
      const record = await api.fetchJSON("record", { run: selection.run, tag: series.tag, step: selection.step }, signal);
      const table = el("dl", { class: "kv-header" });
      for (const [key, value] of Object.entries(record.header)) {
        const text = typeof value === "string" ? value : JSON.stringify(value);
        table.append(el("dt", {}, key), el("dd", {}, text.length > 300 ? text.slice(0, 300) + "…" : text));
      }
      section.append(table);
      for (const [name, array] of Object.entries(record.arrays)) {
        section.append(el("div", { class: "kv-note" }, `${name}: ${array.dtype} [${array.shape.join(", ")}]`));
        if (array.encoding === "image") section.append(strip(selection, series, name, array));
      }
    } catch (error) {
      if (!signal.aborted) section.append(el("p", { class: "kv-error" }, errorText(error)));
    }
    return section;
  }

  return seriesBlocks(host, box, block);
}
