// A small SVG line chart (values over steps), for any view. Names go in as text.

import { el, svg, fmt } from "./common.js";

/**
 * lineChart({key, title, lines: [{name, color, points: [{step, value}]}], cursor})
 * -> <figure class="kv-chart"> with one <path class="kv-line"> per line, a dashed
 * cursor at step `cursor` and a dot where each line has a value at that step; with
 * `legend`, a <div class="kv-legend"> under it names each line's colour; with `hint`
 * ({arrow, words, direction}), the caption ends in <span class="kv-direction"> "↑ higher
 * is better" (or "↓ lower is better"), its figure's data-direction "higher" or "lower".
 */
export function lineChart({ key, title, lines, cursor = null, width = 300, height = 120, legend: withLegend = false, hint = null }) {
  const W = width, H = height, L = 38, R = 8, T = 18, B = 20;
  const figure = el("figure", { class: "kv-chart", dataset: { metric: key } });
  const caption = el("figcaption", {}, title);
  if (hint) {
    caption.append(" ", el("span", { class: "kv-direction", title: hint.words, dataset: { direction: hint.direction } },
      `${hint.arrow} ${hint.words}`));
    figure.dataset.direction = hint.direction;
  }
  figure.append(caption);
  const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  figure.append(root);
  if (withLegend) figure.append(legend(lines));
  const all = lines.flatMap((line) => line.points).filter((p) => typeof p.value === "number" && isFinite(p.value));
  if (!all.length) return figure;
  const xs = all.map((p) => p.step), ys = all.map((p) => p.value);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-6) { y0 -= 0.05; y1 += 0.05; }
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  root.append(
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "kv-axis" }),
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "kv-axis" }),
    svg("text", { x: L - 4, y: Y(y1) + 4, "text-anchor": "end", class: "kv-tick" }, fmt(y1, 2)),
    svg("text", { x: L - 4, y: Y(y0) + 4, "text-anchor": "end", class: "kv-tick" }, fmt(y0, 2)),
    svg("text", { x: L, y: H - 6, "text-anchor": "start", class: "kv-tick" }, String(x0)),
    svg("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "kv-tick" }, String(x1)),
  );
  if (cursor !== null && cursor >= x0 && cursor <= x1) {
    root.append(svg("line", { x1: X(cursor), y1: T, x2: X(cursor), y2: H - B, class: "kv-cursor" }));
  }
  for (const line of lines) {
    const sorted = line.points.filter((p) => typeof p.value === "number" && isFinite(p.value)).sort((a, b) => a.step - b.step);
    if (!sorted.length) continue;
    const d = sorted.map((p, k) => `${k ? "L" : "M"}${X(p.step).toFixed(1)},${Y(p.value).toFixed(1)}`).join("");
    const path = svg("path", { d, fill: "none", stroke: line.color, "stroke-width": 1.5, class: "kv-line", "data-name": line.name });
    path.append(svg("title", {}, line.name));
    root.append(path);
    const at = sorted.find((p) => p.step === cursor);
    if (at) {
      const dot = svg("circle", { cx: X(at.step), cy: Y(at.value), r: 2.5, fill: line.color });
      dot.append(svg("title", {}, `${line.name}: ${fmt(at.value)} at step ${at.step}`));
      root.append(dot);
    }
  }
  return figure;
}

function legend(lines) {
  const box = el("div", { class: "kv-legend" });
  for (const line of lines) {
    const item = el("span", { class: "kv-legend-item", dataset: { name: line.name } });
    const swatch = el("span", { class: "kv-swatch" });
    swatch.style.background = line.color;
    item.append(swatch, el("span", {}, line.name));
    box.append(item);
  }
  return box;
}
