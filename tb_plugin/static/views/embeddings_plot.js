// The embeddings view's plot: one <canvas> with the points of the tiles on screen (dots in
// their class's colour, misclassified ones ringed, or thumbnails when few enough points are
// on screen), the chosen point's neighbours linked and ringed, and a tooltip. Drag to pan,
// wheel to zoom, click a point to choose it.

import { el, routeURL, loadImage, debounce } from "../common.js";
import { classColor, fitView, pointLines, toScreen, zoomView } from "./embeddings_parts.js";
import { tileStore } from "./embeddings_tiles.js";

export const THUMB = 26; // thumbnail size in the plot, CSS pixels
const AUTO_THUMBS = 400; // thumbnails drawn when the screen shows at most this many points (all of them)
const DOT = 4; // point size, CSS pixels
const HIT = 8; // hover/click radius, CSS pixels
const FADED = 0.12; // the opacity of the classes out of focus

/** Whether a point's true class and prediction are known and differ. */
function misclassified(p) {
  return p.label !== null && p.prediction !== null && p.label >= 0 && p.prediction >= 0 && p.label !== p.prediction;
}

/** The class a point is coloured by (null for none). */
export function classOf(settings, p) {
  const k = settings.colorBy === "prediction" ? p.prediction : p.label;
  return k === null || k === undefined || k < 0 ? null : k;
}

/** Lines from the chosen point to its neighbours (under the points). */
function drawLinks(ctx, view, chosen) {
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

/** The points as dots (those drawn as thumbnails left out), misclassified ones ringed in black. */
function drawDots(ctx, onScreen, settings, showThumbs) {
  let color = null;
  for (const [p, sx, sy] of onScreen) {
    const k = classOf(settings, p);
    ctx.globalAlpha = settings.focus !== null && k !== settings.focus ? FADED : 1;
    if (showThumbs && p.tile.sheet) continue; // drawn as a thumbnail (a dot until its sheet loads)
    if (misclassified(p)) { ctx.fillStyle = "#212121"; color = null; ctx.fillRect(sx - DOT / 2 - 1, sy - DOT / 2 - 1, DOT + 2, DOT + 2); }
    const c = classColor(k);
    if (c !== color) { ctx.fillStyle = c; color = c; }
    ctx.fillRect(sx - DOT / 2, sy - DOT / 2, DOT, DOT);
  }
  ctx.globalAlpha = 1;
}

/** The tiles' thumbnails at their points, framed in their class's colour (dashed: misclassified); returns the sheets still loading. */
function drawThumbs(ctx, view, info, answers, settings, sheetURL, onSheet) {
  const [h, w] = info.thumbnail;
  const tw = THUMB, th = Math.round((THUMB * h) / w);
  let waiting = 0;
  for (const answer of answers) {
    if (!answer.sheet) {
      waiting++;
      if (!answer.sheetLoading) {
        answer.sheetLoading = true;
        loadImage(sheetURL(answer)).then((sheet) => { answer.sheet = sheet; onSheet(); }).catch(() => {});
      }
      continue;
    }
    const columns = Math.ceil(Math.sqrt(answer.points.length));
    answer.points.forEach((p, k) => {
      const [sx, sy] = toScreen(view, p.x, p.y);
      const c = classOf(settings, p);
      ctx.globalAlpha = settings.focus !== null && c !== settings.focus ? FADED : 1;
      ctx.drawImage(answer.sheet, (k % columns) * w, Math.floor(k / columns) * h, w, h, sx - tw / 2, sy - th / 2, tw, th);
      ctx.strokeStyle = classColor(c);
      ctx.lineWidth = 2;
      ctx.setLineDash(misclassified(p) ? [3, 2] : []);
      ctx.strokeRect(sx - tw / 2 - 1, sy - th / 2 - 1, tw + 2, th + 2);
    });
    ctx.setLineDash([]);
  }
  ctx.globalAlpha = 1;
  return waiting;
}

/** The chosen point (red) and its neighbours (black), ringed. */
function drawRings(ctx, view, chosen, ring) {
  ctx.lineWidth = 2;
  chosen.neighbors.index.forEach((_, k) => {
    const [bx, by] = toScreen(view, chosen.neighbors.x[k], chosen.neighbors.y[k]);
    ctx.strokeStyle = "#212121"; ctx.beginPath(); ctx.arc(bx, by, ring, 0, 2 * Math.PI); ctx.stroke();
  });
  const [ax, ay] = toScreen(view, chosen.x, chosen.y);
  ctx.strokeStyle = "#d50000"; ctx.beginPath(); ctx.arc(ax, ay, ring + 2, 0, 2 * Math.PI); ctx.stroke();
}

function drawAxes(ctx, view, header) {
  const projection = header.projection === "tsne" ? "t-SNE" : "PC";
  ctx.fillStyle = "#616161";
  ctx.font = "11px sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(`${projection} 1 →`, view.width - 6, view.height - 6);
  ctx.textAlign = "left";
  ctx.fillText(`↑ ${projection} 2`, 6, 14);
}

/** Sets the thumbnails checkbox: on where they can be drawn (unless the user turned them off); kept while tiles load. */
function offerThumbs(thumbs, info, available, shown, loading) {
  if (!loading) {
    thumbs.checked = shown;
    thumbs.disabled = !available;
  }
  thumbs.parentElement.title = info.thumbnail ? (available ? "" : `Zoom in: thumbnails are drawn for at most ${AUTO_THUMBS} points on screen`) : "The record holds no thumbnails.";
}

/** Pan (drag), zoom (wheel), hover and click on the canvas; `plot` gives the view and does the rest. */
function attachPointer(canvas, plot) {
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (!plot.view()) return;
    drag = { x: event.offsetX, y: event.offsetY, view: plot.view(), moved: false };
    canvas.setPointerCapture(event.pointerId);
    canvas.style.cursor = "grabbing";
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!plot.view()) return;
    if (drag) {
      const dx = event.offsetX - drag.x, dy = event.offsetY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) { plot.pan(drag.view, dx, dy); return; }
    }
    plot.hover(event);
  });
  canvas.addEventListener("pointerup", (event) => {
    canvas.style.cursor = "grab";
    const wasDrag = drag && drag.moved;
    drag = null;
    if (!wasDrag) plot.click(event.offsetX, event.offsetY);
  });
  canvas.addEventListener("pointerleave", () => plot.leave());
  canvas.addEventListener("wheel", (event) => {
    if (!plot.view()) return;
    event.preventDefault();
    plot.zoomAt(Math.exp(-event.deltaY * 0.0015), event.offsetX, event.offsetY);
  }, { passive: false });
}

/** Sizes the canvas for `view` at the screen's pixel ratio; returns its 2-D context, cleared. */
function canvasFor(canvas, view) {
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(view.width * ratio) || canvas.height !== Math.round(view.height * ratio)) {
    canvas.width = Math.round(view.width * ratio);
    canvas.height = Math.round(view.height * ratio);
    canvas.style.width = `${view.width}px`;
    canvas.style.height = `${view.height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, view.width, view.height);
  return ctx;
}

/**
 * The plot (`box`, holding the canvas #kv-emb-plot and the tooltip) of the record shown:
 * `show(info, signal)` starts on /embedding_info's answer (the view kept when it is the same
 * map), `hide()` forgets it, `setChosen(answer)` rings an /embedding_point answer (null:
 * none), `zoom(factor)`, `fit()`, `redraw()`. `onClick(index or null)` on a click. The
 * canvas's `kv` and data attributes say what is drawn (tests and benchmarks read them).
 */
export function embeddingPlot(api, { host, settings, thumbs, stats, onClick, onError }) {
  const box = el("div", { class: "kv-emb-plot-box" });
  const canvas = el("canvas", { class: "kv-emb-plot", id: "kv-emb-plot", role: "img", "aria-label": "embedding map" });
  canvas.style.touchAction = "none";
  canvas.style.cursor = "grab";
  const tip = el("div", { class: "kv-emb-tip", id: "kv-emb-tip", role: "tooltip", hidden: true });
  box.append(canvas, tip);
  let info = null; // /embedding_info of the record shown
  let view = null; // { cx, cy, scale, width, height }
  let chosen = null; // /embedding_point answer of the selected point
  let drawn = { index: new Int32Array(0), sx: new Float32Array(0), sy: new Float32Array(0), points: [] };
  let frame = 0;
  const tiles = tileStore(api, { stats, onTile: () => redraw(), onError });
  const sheetURL = (a) => routeURL("embedding_thumbs", { run: info.run, tag: info.tag, step: info.step, level: a.level, tx: a.tx, ty: a.ty });

  function fitted() {
    const width = Math.round(Math.max(360, Math.min(760, (host.clientWidth || 1000) - 330)));
    const top = box.getBoundingClientRect().top || 160;
    const height = Math.round(Math.max(320, Math.min(640, window.innerHeight - top - 18)));
    return fitView(info.bounds, width, height, THUMB / 2 + 6);
  }

  function redraw() {
    if (frame || !info) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function draw() {
    const started = performance.now();
    const ctx = canvasFor(canvas, view);
    const { level, answers, missing } = tiles.onScreen(view);
    const onScreen = [];
    for (const answer of answers) {
      for (const p of answer.points) {
        const [sx, sy] = toScreen(view, p.x, p.y);
        if (sx < -THUMB || sy < -THUMB || sx > view.width + THUMB || sy > view.height + THUMB) continue;
        onScreen.push([p, sx, sy]);
      }
    }
    const complete = !missing && answers.every((a) => a.complete);
    const available = !!info.thumbnail && complete && onScreen.length <= AUTO_THUMBS
      && answers.every((a) => a.points.length <= info.thumb_tile_max); // /embedding_thumbs serves small tiles only
    const showThumbs = available && settings.thumbs !== false;
    offerThumbs(thumbs, info, available, showThumbs, missing > 0);
    drawn = { index: Int32Array.from(onScreen, (e) => e[0].index), sx: Float32Array.from(onScreen, (e) => e[1]),
      sy: Float32Array.from(onScreen, (e) => e[2]), points: onScreen.map((e) => e[0]) };
    if (chosen) drawLinks(ctx, view, chosen);
    drawDots(ctx, onScreen, settings, showThumbs);
    if (showThumbs) canvas.dataset.thumbsWaiting = String(drawThumbs(ctx, view, info, answers, settings, sheetURL, redraw));
    if (chosen) drawRings(ctx, view, chosen, showThumbs ? THUMB * 0.75 : 6);
    drawAxes(ctx, view, info.header);
    stats.drawMs.push(performance.now() - started);
    if (stats.drawMs.length > 2000) stats.drawMs.shift();
    canvas.dataset.level = String(level);
    canvas.dataset.drawn = String(onScreen.length);
    canvas.dataset.thumbs = showThumbs ? "1" : "0";
    if (answers.length && !missing) {
      if (stats.firstDrawMs === null) stats.firstDrawMs = performance.now() - stats.started;
      canvas.dataset.shown = `${info.run}|${info.tag}|${info.step}`; // what is shown (tests wait on it)
    }
  }

  /** The drawn point nearest plot pixel (sx, sy) within HIT pixels (thumbnails: within the thumbnail), or null. */
  function nearest(sx, sy) {
    const radius = canvas.dataset.thumbs === "1" ? THUMB / 2 + 1 : HIT;
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
    if (i === null) { tip.hidden = true; canvas.style.cursor = "grab"; return; }
    canvas.style.cursor = "pointer";
    tip.textContent = pointLines(info.header, drawn.points[drawn.index.indexOf(i)]).join("\n");
    tip.hidden = false;
    const bounds = box.getBoundingClientRect();
    const x = event.clientX - bounds.left, y = event.clientY - bounds.top;
    const left = x + 14 + tip.offsetWidth > bounds.width ? x - 14 - tip.offsetWidth : x + 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, y - tip.offsetHeight - 10)}px`;
  }

  function zoomAt(factor, sx, sy) {
    if (!view) return;
    const fit = fitted();
    const scale = Math.max(fit.scale / 4, Math.min(fit.scale * 2 ** info.max_level, view.scale * factor));
    view = zoomView(view, scale / view.scale, sx, sy);
    redraw();
  }

  attachPointer(canvas, {
    view: () => view,
    pan(from, dx, dy) {
      view = { ...view, cx: from.cx - dx / view.scale, cy: from.cy + dy / view.scale };
      tip.hidden = true;
      redraw();
    },
    hover,
    click: (sx, sy) => onClick(nearest(sx, sy)),
    leave() { tip.hidden = true; },
    zoomAt,
  });
  const onResize = debounce(() => { if (info) { view = { ...fitted(), cx: view.cx, cy: view.cy, scale: view.scale }; redraw(); } }, 150);
  window.addEventListener("resize", onResize);

  // What tests and benchmarks read (no state of the page is changed through it).
  canvas.kv = {
    stats,
    /** Plot coordinates (CSS pixels from the canvas's top left) of drawn point i, or null when it is not drawn. */
    plotXY(i) {
      const k = drawn.index.indexOf(i);
      return k < 0 ? null : [drawn.sx[k], drawn.sy[k]];
    },
    drawnIndices: () => Array.from(drawn.index),
    chosen: () => (chosen ? { index: chosen.index, neighbors: chosen.neighbors.index.slice() } : null),
    view: () => ({ ...view }),
    tilesHeld: () => tiles.held(),
  };

  return {
    box, canvas, redraw,
    show(next, signal) {
      const sameMap = info && info.tag === next.tag && info.run === next.run && info.n === next.n;
      info = next;
      tiles.reset(next, signal);
      chosen = null;
      const fit = fitted();
      view = sameMap && view ? { ...fit, cx: view.cx, cy: view.cy, scale: view.scale } : fit;
    },
    hide() { info = null; },
    setChosen(answer) { chosen = answer; redraw(); },
    zoom(factor) { if (view) zoomAt(factor, view.width / 2, view.height / 2); },
    fit() { if (info) { view = fitted(); redraw(); } },
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener("resize", onResize);
    },
  };
}
