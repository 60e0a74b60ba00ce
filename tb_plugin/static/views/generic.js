// Fallback view for families without their own module: each series' header
// (as text) and its image arrays, so new record kinds show up before their
// dedicated view exists.

import { el, routeURL, whenVisible } from "../common.js";

export default { family: "*", title: "Records", mount };

function mount(host, api) {
  let abort = null;
  const box = el("div", { class: "kv-generic" });
  host.append(box);

  async function update(selection) {
    if (abort) abort.abort();
    abort = new AbortController();
    const signal = abort.signal;
    const blocks = await Promise.all(selection.series.map(async (series) => {
      const block = el("section", { class: "kv-record", dataset: { method: series.method } });
      block.append(el("h3", {}, `${series.method} (${series.tag})`));
      if (!(selection.stepsByTag[series.tag] || []).includes(selection.step)) {
        block.append(el("p", { class: "kv-note" }, `no record at step ${selection.step}`));
        return block;
      }
      try {
        const record = await api.fetchJSON("record", { run: selection.run, tag: series.tag, step: selection.step }, signal);
        const table = el("dl", { class: "kv-header" });
        for (const [key, value] of Object.entries(record.header)) {
          const text = typeof value === "string" ? value : JSON.stringify(value);
          table.append(el("dt", {}, key), el("dd", {}, text.length > 300 ? text.slice(0, 300) + "…" : text));
        }
        block.append(table);
        for (const [name, array] of Object.entries(record.arrays)) {
          block.append(el("div", { class: "kv-note" }, `${name}: ${array.dtype} [${array.shape.join(", ")}]`));
          if (array.encoding !== "image") continue;
          const strip = el("div", { class: "kv-strip" });
          for (let i = 0; i < Math.min(array.shape[0], 64); i++) {
            const img = el("img", { class: "kv-thumb", alt: `${name} ${i}`, loading: "lazy" });
            whenVisible(img, () => {
              img.src = routeURL("image", { run: selection.run, tag: series.tag, step: selection.step, index: i, array: name });
            });
            strip.append(img);
          }
          block.append(strip);
        }
      } catch (error) {
        if (signal.aborted) return block;
        block.append(el("p", { class: "kv-error" }, String(error.message || error)));
      }
      return block;
    }));
    if (!signal.aborted) box.replaceChildren(...blocks);
  }

  return {
    update,
    destroy() {
      if (abort) abort.abort();
      host.replaceChildren();
    },
  };
}
