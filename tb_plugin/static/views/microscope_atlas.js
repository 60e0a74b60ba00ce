// The microscope's atlas: a layer's activation atlas (Carter et al., 2019) as a grid
// of rendered cells, zoomable (a CSS transform: the wheel or the +/− buttons, drag to
// pan). A click on a cell shows its count, its top class (by linear effect on the
// logits) and its source patches (/sprite of the record's `sources`). The channel
// whose page opened the atlas has its cell outlined.

import { el, routeURL, fmt, decodeArray, className } from "../common.js";
import { errorText, showError } from "./toolkit.js";

const VIEW = 560; // px of the viewport: the whole grid fits it at zoom 1

export function atlasView(host, records) {
  let token = 0;
  let zoom = 1, panX = 0, panY = 0;
  let plane = null;

  function applyTransform() {
    if (plane) plane.style.transform = `translate(${panX}px, ${panY}px) scale(${zoom})`;
    if (plane) plane.dataset.zoom = String(zoom);
  }

  function setZoom(factor) {
    zoom = Math.min(8, Math.max(0.25, zoom * factor));
    applyTransform();
  }

  async function show(run, tag, layer, channel) {
    const mine = ++token;
    host.dataset.loading = "true";
    let record;
    try {
      record = await records.get(run, tag, 0);
    } catch (error) {
      if (mine === token) showError(host, errorText(error));
      return;
    }
    if (mine !== token) return;
    draw(run, record, layer, channel);
    host.dataset.shown = `${run}|${layer}`;
    delete host.dataset.loading;
  }

  function draw(run, record, layer, channel) {
    const h = record.header;
    const n = Number(h.grid);
    const CELL = Math.max(24, Math.floor(VIEW / Math.max(1, n)));
    const counts = decodeArray(record.arrays.counts);
    const top = decodeArray(record.arrays.top_class);
    const cells = Array.isArray(h.cells) ? h.cells : [];
    const zoomIn = el("button", { type: "button", id: "kv-ms-zoom-in", title: "Zoom in" }, "+");
    const zoomOut = el("button", { type: "button", id: "kv-ms-zoom-out", title: "Zoom out" }, "−");
    const fit = el("button", { type: "button", id: "kv-ms-zoom-fit", title: "Fit" }, "fit");
    zoomIn.addEventListener("click", () => setZoom(1.5));
    zoomOut.addEventListener("click", () => setZoom(1 / 1.5));
    fit.addEventListener("click", () => { zoom = 1; panX = 0; panY = 0; applyTransform(); });
    const tools = el("div", { class: "kv-ms-bar" });
    tools.append(zoomIn, zoomOut, fit, el("span", { class: "kv-field" },
      `${layer}: ${h.samples} sampled positions of ${h.seen} in a ${n}×${n} grid; each cell drawn by feature visualization of its mean activation`));
    const viewport = el("div", { class: "kv-ms-viewport", id: "kv-ms-viewport" });
    plane = el("div", { class: "kv-ms-plane", id: "kv-ms-plane" });
    plane.style.width = `${n * CELL}px`;
    plane.style.height = `${n * CELL}px`;
    const panel = el("div", { class: "kv-ms-cell-panel", id: "kv-ms-cell-panel" }, "Click a cell for its source patches.");
    const highlight = channelCell(record, channel);
    cells.forEach(([row, col], m) => {
      const url = routeURL("image", { run, tag: record.tag, step: record.step, array: "renders", index: m });
      const count = counts ? counts.value(row * n + col) : "?";
      const cls = top ? top.value(row * n + col) : -1;
      const cell = el("img", { src: url, class: "kv-ms-cell", alt: `cell ${row}, ${col}`,
        title: `cell ${row}, ${col}: ${count} positions, top class ${className(h, cls)}`,
        dataset: { row: String(row), col: String(col), index: String(m) } });
      cell.style.width = `${CELL}px`;
      cell.style.height = `${CELL}px`;
      cell.style.left = `${col * CELL}px`;
      cell.style.top = `${row * CELL}px`;
      if (highlight && highlight[0] === row && highlight[1] === col) cell.classList.add("kv-ms-here");
      cell.addEventListener("click", () => openCell(run, record, m, row, col, count, cls, panel));
      plane.append(cell);
    });
    viewport.append(plane);
    viewport.addEventListener("wheel", (event) => { event.preventDefault(); setZoom(event.deltaY < 0 ? 1.2 : 1 / 1.2); }, { passive: false });
    let drag = null;
    viewport.addEventListener("pointerdown", (event) => { drag = { x: event.clientX - panX, y: event.clientY - panY, moved: false }; });
    viewport.addEventListener("pointermove", (event) => {
      if (!drag || !event.buttons) return;
      panX = event.clientX - drag.x; panY = event.clientY - drag.y; drag.moved = true; applyTransform();
    });
    viewport.addEventListener("pointerup", () => { drag = null; });
    zoom = 1; panX = 0; panY = 0;
    applyTransform();
    const body = el("div", { class: "kv-ms-atlas" });
    body.append(viewport, panel);
    host.replaceChildren(tools, body);
  }

  function channelCell(record, channel) {
    if (channel === null || channel === undefined) return null;
    const means = record.arrays.means;
    const decoded = decodeArray(means);
    const counts = decodeArray(record.arrays.counts);
    if (!decoded || !decoded.value || !counts || means.shape.length !== 3) return null;
    const [n, , C] = means.shape;
    let best = null, at = null;
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
      if (!counts.value(r * n + c)) continue;
      const v = decoded.value((r * n + c) * C + channel);
      if (best === null || v > best) { best = v; at = [r, c]; }
    }
    return at;
  }

  function openCell(run, record, m, row, col, count, cls, panel) {
    const h = record.header;
    const sources = record.arrays.sources;
    const ids = decodeArray(record.arrays.source_ids);
    const images = decodeArray(record.arrays.image_index);
    const positions = decodeArray(record.arrays.positions);
    const per = sources ? sources.shape[1] : 0;
    const effect = decodeArray(record.arrays.top_effect);
    const n = Number(h.grid);
    panel.replaceChildren(
      el("h3", {}, `Cell ${row}, ${col}`),
      el("p", { id: "kv-ms-cell-info" }, `${count} positions · top class ${className(h, cls)}` +
        (effect && effect.value ? ` (logit effect ${fmt(effect.value(row * n + col), 2)})` : "")),
      el("img", { id: "kv-ms-cell-render", class: "kv-ms-fv", alt: "cell render",
        src: routeURL("image", { run, tag: record.tag, step: record.step, array: "renders", index: m }) }),
      el("h3", {}, "Source patches"),
      el("img", { id: "kv-ms-sources", class: "kv-ms-sources", alt: "source patches",
        src: routeURL("sprite", { run, tag: record.tag, step: record.step, array: "sources", index: m, columns: per }) }),
    );
    const list = el("p", { class: "kv-field", id: "kv-ms-source-ids" });
    const parts = [];
    for (let s = 0; s < per && ids && ids.values; s++) {
      const id = ids.value(m * per + s);
      if (id < 0) continue;
      const image = images && images.values ? images.value(id) : "?";
      const pos = positions && positions.values ? `${positions.value(2 * id)},${positions.value(2 * id + 1)}` : "?";
      parts.push(`#${id}: image ${image} at (${pos})`);
    }
    list.textContent = parts.length ? `sample ${parts.join("; ")}` : "no source patches";
    panel.append(list);
    panel.dataset.cell = `${row},${col}`;
    for (const other of plane.querySelectorAll(".kv-ms-selected")) other.classList.remove("kv-ms-selected");
    const img = plane.querySelector(`img[data-index="${m}"]`);
    if (img) img.classList.add("kv-ms-selected");
  }

  return { show, destroy() { token++; } };
}
