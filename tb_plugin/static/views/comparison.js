// The comparison of attribution methods (`kerasviz.metrics.compare(...).write(log_dir)`, tag
// kerasviz/attribution/comparison) as a table: a row per method, a column per metric with its
// direction (↑ higher / ↓ lower is better, from the record), sortable by any metric (best first,
// a second click reverses), the best value of each metric and the failed sanity checks marked as
// the record says. Everything from the record goes into the page as text.

import { el, fmt } from "../common.js";
import { directionHint } from "./attribution_parts.js";
import { follower } from "./toolkit.js";

export const COMPARISON = "comparison"; // the method name of the comparison series

const BEST = "\u2605"; // ★
const FAILED = "\u2717"; // ✗

/** The record's table as plain data, or an error message for a header that is not a comparison. */
export function readComparison(header) {
  const h = header || {};
  const strings = (list) => Array.isArray(list) && list.every((v) => typeof v === "string");
  if (h.kind !== COMPARISON || !strings(h.methods) || !strings(h.metrics) || !Array.isArray(h.values)) {
    return { error: "not a comparison record (expected kind, methods, metrics and values in its header)" };
  }
  const number = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const values = h.methods.map((_, i) => h.metrics.map((_, j) => number(Array.isArray(h.values[i]) ? h.values[i][j] : null)));
  const directions = h.higher_is_better && typeof h.higher_is_better === "object" ? h.higher_is_better : {};
  const best = h.best && typeof h.best === "object" ? h.best : {};
  const failures = new Set((Array.isArray(h.failures) ? h.failures : [])
    .filter((f) => Array.isArray(f) && f.length === 2).map(([m, k]) => `${m}\u0000${k}`));
  return {
    methods: h.methods, metrics: h.metrics, values, failures,
    hints: h.metrics.map((k) => directionHint(directions[k])),
    best: h.metrics.map((k) => new Set(Array.isArray(best[k]) ? best[k] : [])),
    sanity: new Set(strings(h.sanity_checks) ? h.sanity_checks : []),
    threshold: number(h.sanity_threshold),
  };
}

/** Row order sorted by metric column `j`, best first by its direction (`reverse`: worst first); undefined last. */
export function sortedRows(table, j, reverse) {
  const rows = table.methods.map((_, i) => i);
  if (j === null || j < 0) return rows;
  const hint = table.hints[j];
  const sign = (hint && hint.direction === "lower" ? 1 : -1) * (reverse ? -1 : 1);
  return rows.sort((a, b) => {
    const x = table.values[a][j], y = table.values[b][j];
    if (x === null || y === null) return (x === null) - (y === null) || a - b;
    return sign * (x - y) || a - b;
  });
}

/** A panel that shows one comparison record at a time and keeps its sort order across steps. */
export function comparisonPanel() {
  const sort = { metric: null, reverse: false };
  const box = el("div", { class: "kv-comparison-box", id: "kv-comparison-box" });
  let shown = null; // [record, note]

  function show(record, note = "") {
    shown = [record, note];
    const table = readComparison(record && record.header);
    if (table.error) {
      box.replaceChildren(el("p", { class: "kv-error" }, `${record ? record.tag : "comparison"}: ${table.error}`));
      return;
    }
    const j = table.metrics.indexOf(sort.metric);
    const element = el("table", { class: "kv-comparison", id: "kv-comparison" });
    element.append(head(table, j), body(table, j));
    const notes = [];
    if (note) notes.push(el("div", { class: "kv-note" }, note));
    notes.push(legend(table));
    box.replaceChildren(element, ...notes);
    box.dataset.key = `${record.run}|${record.step}|${sort.metric || ""}|${sort.reverse}`; // what is shown (tests wait on it)
  }

  function head(table, j) {
    const row = el("tr");
    const first = el("th", { class: "kv-cmp-method", scope: "col" });
    const reset = el("button", { type: "button", class: "kv-sort", title: "the order of the record" }, "method");
    reset.addEventListener("click", () => { sort.metric = null; sort.reverse = false; show(...shown); });
    first.append(reset);
    row.append(first);
    table.metrics.forEach((metric, k) => {
      const hint = table.hints[k];
      // Best first is ascending for a lower-is-better metric; the second click reverses.
      const ascending = (hint && hint.direction === "higher") === sort.reverse;
      const th = el("th", { scope: "col", class: "kv-cmp-metric", dataset: { metric },
        "aria-sort": k === j ? (ascending ? "ascending" : "descending") : "none" });
      const button = el("button", { type: "button", class: "kv-sort", title: `sort by ${metric}, best first` },
        metric.replace(/_/g, " "));
      button.addEventListener("click", () => {
        sort.reverse = sort.metric === metric ? !sort.reverse : false;
        sort.metric = metric;
        show(...shown);
      });
      th.append(button);
      if (hint) {
        th.append(el("span", { class: "kv-direction", title: hint.words, dataset: { direction: hint.direction } },
          `${hint.arrow} ${hint.direction}`));
      }
      if (table.sanity.has(metric)) th.append(el("span", { class: "kv-note kv-sanity-col" }, "sanity check"));
      row.append(th);
    });
    const thead = el("thead");
    thead.append(row);
    return thead;
  }

  function body(table, j) {
    const tbody = el("tbody");
    for (const i of sortedRows(table, j, sort.reverse)) {
      const method = table.methods[i];
      const row = el("tr", { dataset: { method } });
      const name = el("th", { scope: "row", class: "kv-cmp-method" }, method);
      const failed = table.metrics.filter((k) => table.failures.has(`${method}\u0000${k}`));
      if (failed.length) {
        row.classList.add("kv-cmp-failed");
        name.append(el("div", { class: "kv-note kv-fail-note" }, `${FAILED} fails ${failed.join(", ")}`));
      }
      row.append(name);
      table.metrics.forEach((metric, k) => {
        const value = table.values[i][k];
        const td = el("td", { class: "kv-cmp-value", dataset: { metric } }, value === null ? "n/a" : fmt(value, 4));
        const titles = [value === null ? "undefined (e.g. constant maps)" : String(value)];
        if (table.best[k].has(method)) {
          td.classList.add("kv-best");
          td.append(el("span", { class: "kv-mark" }, ` ${BEST}`));
          titles.push(`best ${metric}`);
        }
        if (table.failures.has(`${method}\u0000${metric}`)) {
          td.classList.add("kv-fail");
          td.append(el("span", { class: "kv-mark" }, ` ${FAILED}`));
          titles.push(`fails the sanity check: rank correlation >= ${table.threshold === null ? "the threshold" : table.threshold}`);
        }
        td.title = titles.join("; ");
        row.append(td);
      });
      tbody.append(row);
    }
    return tbody;
  }

  function legend(table) {
    const parts = [`\u2191 higher is better`, `\u2193 lower is better`, `${BEST} best of each metric`];
    if (table.sanity.size) {
      const at = table.threshold === null ? "" : ` (mean rank correlation \u2265 ${table.threshold})`;
      parts.push(`${FAILED} fails a sanity check${at}: the map barely changes when the weights are randomized `
        + "or another class is explained (Adebayo et al. 2018; Sixt et al. 2020)");
    }
    return el("div", { class: "kv-note kv-cmp-legend" }, parts.join(" \u00b7 "));
  }

  return { element: box, show, clear() { shown = null; box.replaceChildren(); delete box.dataset.key; } };
}

/**
 * The run's comparison series, if it has one, in a folding panel (`element`), at the
 * selected step or the latest one before it: `update(selection)`, `cancel()`.
 */
export function comparisonSection(api, records) {
  const panel = comparisonPanel();
  const title = el("summary", {}, "Method comparison");
  const element = el("details", { class: "kv-comparison-panel", id: "kv-comparison-panel", open: true, hidden: true });
  element.append(title, panel.element);
  const follow = follower(api, { what: "comparison", records });
  return {
    element,
    async update(selection) {
      const series = selection.series.find((s) => s.method === COMPARISON);
      element.hidden = !series;
      if (!series) { follow.cancel(); panel.clear(); return; }
      const shown = await follow.show(selection, series);
      if (!shown) return;
      if (shown.error) {
        panel.clear();
        panel.element.append(el("p", { class: shown.empty ? "kv-empty" : "kv-error" }, shown.error));
        return;
      }
      title.textContent = `Method comparison at step ${shown.step}`;
      panel.show(shown.record, shown.step !== selection.step ? `from step ${shown.step}` : "");
    },
    cancel() { follow.cancel(); },
  };
}
