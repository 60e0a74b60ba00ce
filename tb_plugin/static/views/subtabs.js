// A family view made of sub-tabs: one per method recorded in the run, each
// drawn by its own view (known methods first, in the order given, then the
// others by name with the generic view). The shell's step slider drives them.

import { el } from "../common.js";
import generic from "./generic.js";

// views: [{ method, title, mount(host, api) }]; ids: { tabs, body } element ids; viewClass: each sub-view's class.
export function mountSubtabs(host, api, views, ids, viewClass) {
  const tabs = el("div", { class: "kv-controls kv-act-methods", id: ids.tabs, role: "tablist" });
  const body = el("div", { class: "kv-act-body", id: ids.body });
  host.append(tabs, body);
  let selection = null;
  let chosen = null;
  let active = null; // { method, instance }

  function order(methods) {
    const known = views.map((view) => view.method).filter((m) => methods.includes(m));
    return [...known, ...methods.filter((m) => !known.includes(m)).sort()];
  }

  function show() {
    const methods = order([...new Set(selection.series.map((s) => s.method))]);
    if (!methods.includes(chosen)) chosen = methods[0] || null;
    tabs.replaceChildren(...methods.map((method) => {
      const view = views.find((v) => v.method === method);
      const button = el("button", { type: "button", role: "tab", class: "kv-subtab", dataset: { method },
        "aria-selected": String(method === chosen) }, view ? view.title : method);
      button.addEventListener("click", () => { chosen = method; show(); });
      return button;
    }));
    if (!active || active.method !== chosen) {
      if (active) active.instance.destroy();
      const sub = el("div", { class: viewClass, dataset: { method: chosen || "" } });
      body.replaceChildren(sub);
      const view = views.find((v) => v.method === chosen) || generic;
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
