// The "activations" family: one sub-tab per method recorded in the run
// (filters, embeddings, top patches), each drawn by its own view; methods
// without a view get the generic one. The shell's step slider drives them all.

import { el } from "../common.js";
import generic from "./generic.js";
import filters from "./filters.js";
import embeddings from "./embeddings.js";
import patches from "./patches.js";
import { adoptStyle } from "./activation_parts.js";

const METHOD_VIEWS = [filters, embeddings, patches];

export default { family: "activations", title: "Activations", mount };

function mount(host, api) {
  adoptStyle();
  const tabs = el("div", { class: "kv-controls kv-act-methods", id: "kv-act-methods", role: "tablist" });
  const body = el("div", { class: "kv-act-body", id: "kv-act-body" });
  host.append(tabs, body);
  let selection = null;
  let chosen = null;
  let active = null; // { method, instance }

  function order(methods) {
    const known = METHOD_VIEWS.map((view) => view.method).filter((m) => methods.includes(m));
    return [...known, ...methods.filter((m) => !known.includes(m)).sort()];
  }

  function show() {
    const methods = order([...new Set(selection.series.map((s) => s.method))]);
    if (!methods.includes(chosen)) chosen = methods[0] || null;
    tabs.replaceChildren(...methods.map((method) => {
      const view = METHOD_VIEWS.find((v) => v.method === method);
      const button = el("button", { type: "button", role: "tab", class: "kv-subtab", dataset: { method },
        "aria-selected": String(method === chosen) }, view ? view.title : method);
      button.addEventListener("click", () => { chosen = method; show(); });
      return button;
    }));
    if (!active || active.method !== chosen) {
      if (active) active.instance.destroy();
      const sub = el("div", { class: "kv-act-view", dataset: { method: chosen || "" } });
      body.replaceChildren(sub);
      const view = METHOD_VIEWS.find((v) => v.method === chosen) || generic;
      active = { method: chosen, instance: view.mount(sub, api) };
    }
    active.instance.update({ ...selection, series: selection.series.filter((s) => s.method === chosen) });
  }

  return {
    update(next) { selection = next; show(); },
    destroy() {
      if (active) active.instance.destroy();
      active = null;
      host.replaceChildren();
    },
  };
}
