// Embeddings view: a 2-D projection (PCA or t-SNE) of a layer's features at the
// chosen step, coloured by class, drawn on one <canvas> so that 100,000 points
// stay fluid. The plugin cuts the map into level-of-detail tiles
// (/embedding_tile: at most 2,048 points each, a uniform sample of the tile's
// points, finer tiles adding points as one zooms in); the view asks only for the
// tiles on screen at the level of the current zoom, draws coarser tiles it
// already holds while finer ones load, and asks for thumbnails (/embedding_thumbs)
// only when the tiles on screen hold few enough points to show them all.
// Drag to pan, wheel (or the +/− buttons) to zoom. Hover a point for its true
// class, prediction and probability; click it for its nearest neighbours in
// feature space (/embedding_point: precomputed by the writer). The projector
// (latest checkpoint only) keeps the 3-D view.

import { el, routeURL, loadImage, className, debounce, latestRequest, LRU } from "../common.js";
import { layerChooser, stepFor, showError } from "./activation_parts.js";
import {
  ancestors, classColor, fitView, levelFor, pointLines, projectionName, tileKey, toScreen, visibleTiles, zoomView,
} from "./embeddings_parts.js";

export default { family: "activations", method: "embeddings", title: "Embeddings", mount };

const THUMB = 26; // thumbnail size in the plot, CSS pixels
const AUTO_THUMBS = 400; // thumbnails drawn when the screen shows at most this many points (all of them)
const DOT = 4; // point size, CSS pixels
const HIT = 8; // hover/click radius, CSS pixels

function mount(host, api) {
  const settings = { colorBy: "label", thumbs: null, focus: null, selected: null };
  let selection = null;
  const requests = latestRequest();
  let info = null; // /embedding_info of the record shown
  let view = null; // { cx, cy, scale, width, height }
  let tiles = new LRU(600); // tile key -> answer (of the record shown)
  const pending = new Set();
  let chosen = null; // /embedding_point answer of the selected point
  let drawn = { index: new Int32Array(0), sx: new Float32Array(0), sy: new Float32Array(0), points: [] };
  let frame = 0;
  let signal = undefined; // of the record shown: tile fetches end with it
  const stats = { firstDrawMs: null, started: 0, drawMs: [], fetches: 0 };

  const layers = layerChooser("kv-emb-layer", () => show());
  const colorBy = el("select", { id: "kv-emb-color", "aria-label": "colour by" });
  colorBy.append(el("option", { value: "label" }, "true class"), el("option", { value: "prediction" }, "predicted class"));
  const thumbs = el("input", { id: "kv-emb-thumbs", type: "checkbox" });
  const thumbsLabel = el("label", { class: "kv-method", for: "kv-emb-thumbs" });
  thumbsLabel.append(thumbs, el("span", {}, "thumbnails"));
  const zoomIn = el("button", { type: "button", id: "kv-emb-zoom-in", title: "Zoom in" }, "+");
  const zoomOut = el("button", { type: "button", id: "kv-emb-zoom-out", title: "Zoom out" }, "−");
  const zoomFit = el("button", { type: "button", id: "kv-emb-zoom-fit", title: "Show the whole map" }, "fit");
  const projector = el("a", { id: "kv-emb-projector", target: "_top", href: projectorHref() }, "3-D in the Projector ↗");
  const controls = el("div", { class: "kv-controls" });
  controls.append(layers.box, el("label", { class: "kv-field", for: "kv-emb-color" }, "Colour by"), colorBy,
    thumbsLabel, zoomIn, zoomOut, zoomFit, projector);
  const infoLine = el("div", { class: "kv-act-info", id: "kv-emb-info" });
  const plotBox = el("div", { class: "kv-emb-plot-box" });
  const plot = el("canvas", { class: "kv-emb-plot", id: "kv-emb-plot", role: "img", "aria-label": "embedding map" });
  plot.style.touchAction = "none";
  plot.style.cursor = "grab";
  const tip = el("div", { class: "kv-emb-tip", id: "kv-emb-tip", role: "tooltip", hidden: true });
  plotBox.append(plot, tip);
  const legend = el("div", { class: "kv-emb-legend", id: "kv-emb-legend" });
  const panel = el("div", { class: "kv-emb-panel", id: "kv-emb-panel" });
  const side = el("div", { class: "kv-emb-side", id: "kv-emb-side" });
  side.append(legend, panel);
  const main = el("div", { class: "kv-emb-main" });
  main.append(plotBox, side);
  const message = el("div");
  host.append(controls, infoLine, message, main);

  colorBy.addEventListener("change", () => { settings.colorBy = colorBy.value; settings.focus = null; drawLegend(); redraw(); });
  thumbs.addEventListener("change", () => { settings.thumbs = thumbs.checked; redraw(); });
  zoomIn.addEventListener("click", () => zoomAt(2, view.width / 2, view.height / 2));
  zoomOut.addEventListener("click", () => zoomAt(0.5, view.width / 2, view.height / 2));
  zoomFit.addEventListener("click", () => { if (info) { view = fitted(); redraw(); } });
  const onKey = (event) => { if (event.key === "Escape") choose(null); };
  document.addEventListener("keydown", onKey);
  const onResize = debounce(() => { if (info) { const old = view; view = { ...fitted(), cx: old.cx, cy: old.cy, scale: old.scale }; redraw(); } }, 150);
  window.addEventListener("resize", onResize);

  // ------------------------------------------------------------------ pointer: pan, zoom, hover, click
  let drag = null;
  plot.addEventListener("pointerdown", (event) => {
    if (!view) return;
    drag = { x: event.offsetX, y: event.offsetY, cx: view.cx, cy: view.cy, moved: false };
    plot.setPointerCapture(event.pointerId);
    plot.style.cursor = "grabbing";
  });
  plot.addEventListener("pointermove", (event) => {
    if (!view) return;
    if (drag) {
      const dx = event.offsetX - drag.x, dy = event.offsetY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        view = { ...view, cx: drag.cx - dx / view.scale, cy: drag.cy + dy / view.scale };
        tip.hidden = true;
        redraw();
        return;
      }
    }
    hover(event);
  });
  plot.addEventListener("pointerup", (event) => {
    plot.style.cursor = "grab";
    const wasDrag = drag && drag.moved;
    drag = null;
    if (wasDrag) return;
    const i = nearest(event.offsetX, event.offsetY);
    choose(i === null || i === settings.selected ? null : i);
  });
  plot.addEventListener("pointerleave", () => { tip.hidden = true; });
  plot.addEventListener("wheel", (event) => {
    if (!view) return;
    event.preventDefault();
    zoomAt(Math.exp(-event.deltaY * 0.0015), event.offsetX, event.offsetY);
  }, { passive: false });

  function zoomAt(factor, sx, sy) {
    if (!view) return;
    const fit = fitted();
    const scale = Math.max(fit.scale / 4, Math.min(fit.scale * 2 ** info.max_level, view.scale * factor));
    view = zoomView(view, scale / view.scale, sx, sy);
    redraw();
  }

  function projectorHref() {
    try {
      const top = window.top.location; // same origin: TensorBoard's own page
      return `${top.pathname}${top.search}#projector`;
    } catch (error) {
      return "#projector";
    }
  }

  // ------------------------------------------------------------------ data
  function params(extra = {}) {
    return { run: info.run, tag: info.tag, step: info.step, ...extra };
  }

  async function show() {
    const mine = requests.next();
    signal = mine;
    const series = layers.set(selection.series);
    if (!series) return;
    const step = stepFor(selection, series.tag);
    if (step === null) {
      fail(`No embeddings of this layer at or before step ${selection.step}.`);
      return;
    }
    stats.started = performance.now();
    stats.firstDrawMs = null;
    plot.dataset.shown = ""; // until the new record's tiles are drawn
    let next;
    try {
      next = await api.fetchJSON("embedding_info", { run: selection.run, tag: series.tag, step }, mine);
    } catch (error) {
      if (!mine.aborted) fail(String(error.message || error));
      return;
    }
    if (mine.aborted) return;
    const sameMap = info && info.tag === next.tag && info.run === next.run && info.n === next.n;
    info = next;
    tiles = new LRU(600);
    pending.clear();
    chosen = null;
    message.replaceChildren();
    main.hidden = false;
    if (settings.selected !== null && settings.selected >= info.n) settings.selected = null;
    const fit = fitted();
    view = sameMap && view ? { ...fit, cx: view.cx, cy: view.cy, scale: view.scale } : fit;
    offerColorings();
    describe(step);
    drawLegend();
    redraw();
    if (settings.selected !== null) choose(settings.selected);
    else choose(null);
  }

  function fail(text) {
    info = null;
    main.hidden = true;
    infoLine.replaceChildren();
    showError(message, text);
  }

  function fitted() {
    const width = Math.round(Math.max(360, Math.min(760, (host.clientWidth || 1000) - 330)));
    const top = plotBox.getBoundingClientRect().top || 160;
    const height = Math.round(Math.max(320, Math.min(640, window.innerHeight - top - 18)));
    return fitView(info.bounds, width, height, THUMB / 2 + 6);
  }

  /** The answer for tile t, or the nearest ancestor answer that holds all of its points; null when none yet. */
  function resolved(t) {
    const own = tiles.get(tileKey(t));
    if (own) return own;
    for (const a of ancestors(t)) {
      const answer = tiles.get(tileKey(a));
      if (answer && answer.complete) return answer;
    }
    return null;
  }

  function fetchTile(t) {
    const key = tileKey(t);
    if (pending.has(key)) return;
    pending.add(key);
    stats.fetches++;
    const shownKey = `${info.run}|${info.tag}|${info.step}`;
    const mine = signal;
    api.fetchJSON("embedding_tile", params(t), mine).then((answer) => {
      pending.delete(key);
      if (!info || `${info.run}|${info.tag}|${info.step}` !== shownKey) return;
      tiles.set(key, prepare(answer));
      redraw();
    }).catch((error) => {
      pending.delete(key);
      if (!mine || !mine.aborted) showError(message, String(error.message || error));
    });
  }

  /** Points of a tile answer, with their class per colouring, in drawing order. */
  function prepare(answer) {
    answer.points = answer.index.map((index, k) => ({
      index, x: answer.x[k], y: answer.y[k],
      label: answer.label ? answer.label[k] : null,
      prediction: answer.prediction ? answer.prediction[k] : null,
      probability: answer.probability ? answer.probability[k] : null,
      tile: answer, // whose thumbnail sheet draws it
    }));
    return answer;
  }

  // ------------------------------------------------------------------ drawing
  function redraw() {
    if (frame || !info) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function classOf(p) {
    const k = settings.colorBy === "prediction" ? p.prediction : p.label;
    return k === null || k === undefined || k < 0 ? null : k;
  }

  /** The answers to draw for the current view, asking for the missing tiles of its level. */
  function answersOnScreen() {
    const level = levelFor(view, info.bounds, info.max_level);
    const answers = new Map();
    let missing = 0;
    for (const t of visibleTiles(view, info.bounds, level)) {
      let answer = resolved(t);
      if (!answer) {
        missing++;
        fetchTile(t);
        for (const a of ancestors(t)) { answer = tiles.get(tileKey(a)); if (answer) break; } // coarser, for now
      }
      if (answer) answers.set(`${answer.level}/${answer.tx}/${answer.ty}`, answer);
    }
    return { level, answers: [...answers.values()], missing };
  }

  function draw() {
    const started = performance.now();
    const ratio = window.devicePixelRatio || 1;
    if (plot.width !== Math.round(view.width * ratio) || plot.height !== Math.round(view.height * ratio)) {
      plot.width = Math.round(view.width * ratio);
      plot.height = Math.round(view.height * ratio);
      plot.style.width = `${view.width}px`;
      plot.style.height = `${view.height}px`;
    }
    const ctx = plot.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, view.width, view.height);
    const { level, answers, missing } = answersOnScreen();
    const onScreen = [];
    for (const answer of answers) {
      for (const p of answer.points) {
        const [sx, sy] = toScreen(view, p.x, p.y);
        if (sx < -THUMB || sy < -THUMB || sx > view.width + THUMB || sy > view.height + THUMB) continue;
        onScreen.push([p, sx, sy]);
      }
    }
    const complete = !missing && answers.every((a) => a.complete);
    const thumbsAvailable = !!info.thumbnail && complete && onScreen.length <= AUTO_THUMBS
      && answers.every((a) => a.points.length <= info.thumb_tile_max); // /embedding_thumbs serves small tiles only
    const showThumbs = thumbsAvailable && settings.thumbs !== false;
    if (!missing) { // while tiles load, the checkbox keeps its state
      thumbs.checked = showThumbs;
      thumbs.disabled = !thumbsAvailable;
    }
    thumbs.parentElement.title = info.thumbnail ? (thumbsAvailable ? "" : `Zoom in: thumbnails are drawn for at most ${AUTO_THUMBS} points on screen`) : "The record holds no thumbnails.";
    const focus = settings.focus;
    const index = new Int32Array(onScreen.length), xs = new Float32Array(onScreen.length), ys = new Float32Array(onScreen.length);
    onScreen.forEach(([p, sx, sy], k) => { index[k] = p.index; xs[k] = sx; ys[k] = sy; });
    drawn = { index, sx: xs, sy: ys, points: onScreen.map((e) => e[0]) };
    // links to the chosen point's neighbours, under the points
    if (chosen) {
      const [ax, ay] = toScreen(view, chosen.x, chosen.y);
      ctx.strokeStyle = "rgba(33,33,33,0.55)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      chosen.neighbors.index.forEach((_, k) => {
        const [bx, by] = toScreen(view, chosen.neighbors.x[k], chosen.neighbors.y[k]);
        ctx.moveTo(ax, ay); ctx.lineTo(bx, by);
      });
      ctx.stroke();
    }
    let color = null;
    for (const [p, sx, sy] of onScreen) {
      const k = classOf(p);
      const faded = focus !== null && k !== focus;
      ctx.globalAlpha = faded ? 0.12 : 1;
      const wrong = p.label !== null && p.prediction !== null && p.label >= 0 && p.prediction >= 0 && p.label !== p.prediction;
      if (showThumbs && p.tile.sheet) continue; // drawn as a thumbnail below (a dot until its sheet loads)
      if (wrong) { ctx.fillStyle = "#212121"; color = null; ctx.fillRect(sx - DOT / 2 - 1, sy - DOT / 2 - 1, DOT + 2, DOT + 2); }
      const c = classColor(k);
      if (c !== color) { ctx.fillStyle = c; color = c; }
      ctx.fillRect(sx - DOT / 2, sy - DOT / 2, DOT, DOT);
    }
    ctx.globalAlpha = 1;
    if (showThumbs) drawThumbs(ctx, answers, focus);
    // the chosen point and its neighbours, ringed
    if (chosen) {
      const ring = showThumbs ? THUMB * 0.75 : 6;
      ctx.lineWidth = 2;
      chosen.neighbors.index.forEach((_, k) => {
        const [bx, by] = toScreen(view, chosen.neighbors.x[k], chosen.neighbors.y[k]);
        ctx.strokeStyle = "#212121"; ctx.beginPath(); ctx.arc(bx, by, ring, 0, 2 * Math.PI); ctx.stroke();
      });
      const [ax, ay] = toScreen(view, chosen.x, chosen.y);
      ctx.strokeStyle = "#d50000"; ctx.beginPath(); ctx.arc(ax, ay, ring + 2, 0, 2 * Math.PI); ctx.stroke();
    }
    const projection = info.header.projection === "tsne" ? "t-SNE" : "PC";
    ctx.fillStyle = "#616161";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(`${projection} 1 →`, view.width - 6, view.height - 6);
    ctx.textAlign = "left";
    ctx.fillText(`↑ ${projection} 2`, 6, 14);
    const ms = performance.now() - started;
    stats.drawMs.push(ms);
    if (stats.drawMs.length > 2000) stats.drawMs.shift();
    plot.dataset.level = String(level);
    plot.dataset.drawn = String(onScreen.length);
    plot.dataset.thumbs = showThumbs ? "1" : "0";
    if (answers.length && !missing) {
      if (stats.firstDrawMs === null) stats.firstDrawMs = performance.now() - stats.started;
      plot.dataset.shown = `${info.run}|${info.tag}|${info.step}`; // what is shown (tests wait on it)
    }
  }

  function drawThumbs(ctx, answers, focus) {
    const [h, w] = info.thumbnail;
    const tw = THUMB, th = Math.round((THUMB * h) / w);
    let waiting = 0;
    for (const answer of answers) {
      const url = routeURL("embedding_thumbs", params({ level: answer.level, tx: answer.tx, ty: answer.ty }));
      if (!answer.sheet) {
        waiting++;
        if (!answer.sheetLoading) {
          answer.sheetLoading = true;
          loadImage(url).then((sheet) => {
            answer.sheet = sheet;
            redraw();
          }).catch(() => {});
        }
        continue;
      }
      const columns = Math.ceil(Math.sqrt(answer.points.length));
      answer.points.forEach((p, k) => {
        const [sx, sy] = toScreen(view, p.x, p.y);
        const k2 = classOf(p);
        ctx.globalAlpha = focus !== null && k2 !== focus ? 0.12 : 1;
        ctx.drawImage(answer.sheet, (k % columns) * w, Math.floor(k / columns) * h, w, h, sx - tw / 2, sy - th / 2, tw, th);
        const wrong = p.label !== null && p.prediction !== null && p.label >= 0 && p.prediction >= 0 && p.label !== p.prediction;
        ctx.strokeStyle = classColor(k2);
        ctx.lineWidth = 2;
        ctx.setLineDash(wrong ? [3, 2] : []);
        ctx.strokeRect(sx - tw / 2 - 1, sy - th / 2 - 1, tw + 2, th + 2);
      });
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 1;
    plot.dataset.thumbsWaiting = String(waiting);
  }

  // ------------------------------------------------------------------ text and panels
  function describe(step) {
    const header = info.header;
    const parts = [
      el("span", { class: "kv-act-main" }, `layer ${header.layer || "?"}`),
      el("span", {}, `${projectionName(header)} of ${info.n} points`),
    ];
    if (info.n > info.tile_points) parts.push(el("span", {}, "a sample per tile; zoom in for more points"));
    if (step !== selection.step) parts.push(el("span", { class: "kv-act-warn" }, `from step ${step}`));
    for (const note of info.notes) parts.push(el("span", { class: "kv-act-warn" }, note));
    infoLine.replaceChildren(...parts);
    projector.textContent = header.projector_run ? `3-D in the Projector (run ${header.projector_run}) ↗` : "3-D in the Projector ↗";
    projector.title = "The projector shows the latest checkpoint only (at most 10,000 points for its t-SNE); this view follows the step slider.";
  }

  /** Colour by what the record holds: a record without true labels is coloured by its predictions. */
  function offerColorings() {
    const held = { label: info.has.labels, prediction: info.has.predictions };
    for (const option of colorBy.options) option.disabled = !held[option.value];
    if (!held[settings.colorBy] && (held.label || held.prediction)) {
      settings.colorBy = held.label ? "label" : "prediction";
      settings.focus = null;
    }
    colorBy.value = settings.colorBy;
    colorBy.disabled = !held.label && !held.prediction;
  }

  function drawLegend() {
    const counts = info.counts[settings.colorBy] || {};
    const names = Array.isArray(info.header.class_names) ? info.header.class_names : [];
    const classes = [...new Set([...names.map((_, k) => k), ...Object.keys(counts).map(Number)])].sort((a, b) => a - b);
    const title = el("div", { class: "kv-field" }, settings.colorBy === "prediction" ? "Predicted class" : "True class");
    const items = classes.slice(0, 60).map((k) => {
      const button = el("button", { type: "button", dataset: { cls: String(k) }, "aria-pressed": String(settings.focus === k),
        title: "Show this class only (click again for all)" });
      const swatch = el("span", { class: "kv-swatch" });
      swatch.style.background = classColor(k);
      button.append(swatch, el("span", { class: "kv-emb-name" }, className(info.header, k)),
        el("span", { class: "kv-emb-count" }, String(counts[String(k)] || 0)));
      button.addEventListener("click", () => { settings.focus = settings.focus === k ? null : k; drawLegend(); redraw(); });
      return button;
    });
    legend.replaceChildren(title, ...items);
    if (!info.has.labels && !info.has.predictions) legend.append(el("div", { class: "kv-emb-hint" }, "The record holds no classes."));
  }

  /** The drawn point nearest plot pixel (sx, sy) within HIT pixels (thumbnails: within the thumbnail), or null. */
  function nearest(sx, sy) {
    const radius = plot.dataset.thumbs === "1" ? THUMB / 2 + 1 : HIT;
    let best = null, bestD = radius * radius;
    for (let k = drawn.index.length - 1; k >= 0; k--) { // drawn last is on top
      const dx = drawn.sx[k] - sx, dy = drawn.sy[k] - sy;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = k; }
    }
    return best === null ? null : drawn.index[best];
  }

  function hover(event) {
    const i = nearest(event.offsetX, event.offsetY);
    if (i === null) { tip.hidden = true; plot.style.cursor = "grab"; return; }
    plot.style.cursor = "pointer";
    const p = drawn.points[drawn.index.indexOf(i)];
    tip.textContent = pointLines(info.header, p).join("\n");
    tip.hidden = false;
    const box = plotBox.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const left = x + 14 + tip.offsetWidth > box.width ? x - 14 - tip.offsetWidth : x + 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, y - tip.offsetHeight - 10)}px`;
  }

  /** A canvas showing the thumbnail of point i (/image of the record's `thumbnails`). */
  function thumbCanvas(p, size) {
    const [h, w] = info.thumbnail || [1, 1];
    const canvas = el("canvas", { class: "kv-emb-canvas", width: w, height: h });
    canvas.style.width = `${size}px`;
    canvas.style.height = `${Math.round((size * h) / w)}px`;
    canvas.style.borderColor = classColor(p.label);
    if (info.thumbnail) {
      loadImage(routeURL("image", params({ array: "thumbnails", index: p.index }))).then((image) => {
        canvas.getContext("2d").drawImage(image, 0, 0);
        canvas.dataset.painted = "1";
      }).catch(() => {});
    }
    return canvas;
  }

  /** Selects point i (null: none): its neighbours are ringed and linked in the plot and listed in the side panel. */
  async function choose(i) {
    settings.selected = i;
    chosen = null;
    plot.dataset.selected = i === null ? "" : String(i);
    if (i === null || !info) {
      panel.replaceChildren(el("div", { class: "kv-emb-hint" },
        "Drag to pan, scroll to zoom. Hover a point for its classes; click it for its nearest neighbours in feature space."));
      redraw();
      return;
    }
    const shownKey = `${info.run}|${info.tag}|${info.step}`;
    let answer;
    try {
      answer = await api.fetchJSON("embedding_point", params({ index: i }));
    } catch (error) {
      showError(panel, String(error.message || error));
      return;
    }
    if (!info || settings.selected !== i || `${info.run}|${info.tag}|${info.step}` !== shownKey) return;
    chosen = answer;
    const nb = answer.neighbors;
    const points = nb.index.map((index, k) => ({
      index, label: nb.label ? nb.label[k] : null, prediction: nb.prediction ? nb.prediction[k] : null,
      probability: nb.probability ? nb.probability[k] : null,
    }));
    const me = { index: answer.index, label: answer.label, prediction: answer.prediction, probability: answer.probability };
    const box = el("div", { class: "kv-emb-chosen" });
    const text = el("div");
    for (const line of pointLines(info.header, me)) text.append(el("div", {}, line));
    box.append(thumbCanvas(me, 64), text);
    const has = (v) => v !== null && v !== undefined && v >= 0;
    const same = has(me.label) ? points.filter((p) => p.label === me.label).length : null;
    const title = `${points.length} nearest neighbours in feature space (layer ${info.header.layer || "?"}, euclidean)`
      + (same === null ? "" : ` · ${same} share its true class`);
    const list = el("div", { class: "kv-nb-list", id: "kv-emb-neighbors" });
    for (const p of points) {
      const item = el("div", { class: "kv-nb-item", dataset: { index: String(p.index) }, title: pointLines(info.header, p).join("\n") });
      item.append(thumbCanvas(p, 56));
      if (has(p.label)) {
        item.append(el("span", { class: p.label === me.label ? "kv-same" : "kv-other" }, className(info.header, p.label)));
      }
      if (has(p.prediction) && (!has(p.label) || p.prediction !== p.label)) {
        item.append(el("span", { class: "kv-note" }, `pred ${className(info.header, p.prediction)}`));
      }
      item.addEventListener("click", () => choose(p.index));
      list.append(item);
    }
    panel.replaceChildren(box, el("h4", {}, title), list);
    if (!points.length) panel.append(el("div", { class: "kv-emb-hint" }, "No neighbours recorded for this point."));
    if (answer.neighbors_dropped) panel.append(el("div", { class: "kv-act-warn" }, `${answer.neighbors_dropped} neighbour indices out of range, left out`));
    redraw();
  }

  // What tests and benchmarks read (no state of the page is changed through it).
  plot.kv = {
    stats,
    /** Plot coordinates (CSS pixels from the canvas's top left) of drawn point i, or null when it is not drawn. */
    plotXY(i) {
      const k = drawn.index.indexOf(i);
      return k < 0 ? null : [drawn.sx[k], drawn.sy[k]];
    },
    drawnIndices: () => Array.from(drawn.index),
    chosen: () => (chosen ? { index: chosen.index, neighbors: chosen.neighbors.index.slice() } : null),
    view: () => ({ ...view }),
    tilesHeld: () => tiles.map.size,
  };

  return {
    update(next) { selection = next; show(); },
    destroy() {
      requests.cancel();
      if (frame) cancelAnimationFrame(frame);
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("resize", onResize);
      host.replaceChildren();
    },
  };
}
