// The attribution view's charts: each metric of the run (scalars
// `kerasviz/attribution/<method>/<metric>`) over steps, a line per shown method, with the
// metric's direction as /scalars gives it (from `kerasviz.metrics.METRICS`, on the server).

import { lineChart } from "../charts.js";
import { directionHint } from "./attribution_parts.js";

/** The charts in `box`: `draw(selection, hidden, colorFor)` fetches what it lacks; `reset()` forgets it. */
export function metricCharts(api, box) {
  const cache = new Map(); // "run|tag" -> /scalars answer

  function chart(selection, metric, scalars, colorFor) {
    const answers = scalars.map((s) => cache.get(`${selection.run}|${s.tag}`)).filter(Boolean);
    const known = answers.find((answer) => typeof answer.higher_is_better === "boolean");
    return lineChart({
      key: metric,
      title: metric.replace(/_/g, " "),
      hint: directionHint(known ? known.higher_is_better : null),
      cursor: selection.step,
      lines: scalars.map((s) => {
        const answer = cache.get(`${selection.run}|${s.tag}`);
        return { name: s.method, color: colorFor(s.method), points: answer ? answer.points : [] };
      }),
    });
  }

  return {
    async draw(selection, hidden, colorFor) {
      const scalars = selection.scalars.filter((s) => !hidden.has(s.method));
      const metrics = [...new Set(scalars.map((s) => s.metric))].sort();
      const missing = scalars.filter((s) => !cache.has(`${selection.run}|${s.tag}`));
      await Promise.allSettled(missing.map((s) => api.fetchJSON("scalars", { run: selection.run, tag: s.tag })
        .then((body) => cache.set(`${selection.run}|${s.tag}`, body))));
      box.replaceChildren(...metrics.map((metric) => chart(selection, metric, scalars.filter((s) => s.metric === metric), colorFor)));
    },
    reset() { cache.clear(); },
  };
}
