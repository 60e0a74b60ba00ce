"""The kerasviz TensorBoard plugin: small, defensive routes over the data provider.

Every read goes through `context.data_provider` (the Rust data server by
default, the Python multiplexer with `--load_fast=false`), so the plugin works
with both. Query arguments are validated (400 `text/plain`), missing or
unreadable data answers 404 (a damaged record or series never answers 500, nor
hides the others), every answer says `nosniff`, and the dashboard's static files
are served from an allow-list. The route table is in `tb_plugin/README.md`.
"""

import collections
import io
import os
import re
import threading

import numpy as np
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard.util import tb_logging
from werkzeug import wrappers

from tb_plugin import embedding_tiles, metadata

logger = tb_logging.get_logger()

PLUGIN_NAME = metadata.PLUGIN_NAME
# Records kept per time series when the user sets no `--samples_per_plugin kerasviz=N`
# (TensorBoard's own default for blob sequences is 10: a 50-epoch run would lose epochs).
DEFAULT_SAMPLES = 500
_NO_LIMIT = 1_000_000  # what `--samples_per_plugin kerasviz=0` ("keep all") means when reading
_SCALAR_PLUGINS = ("scalars", PLUGIN_NAME)  # where the AUC metrics may live
_MAX_ARG_CHARS = 4096
_MAX_JSON_ELEMENTS = 8_000_000  # array elements sent per /record answer; arrays beyond are listed, not sent
_CACHE_BYTES = 256 * 1024 * 1024  # decoded arrays kept between requests
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INT = re.compile(r"^-?[0-9]{1,19}$")
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_MAX_SPRITE_SIDE = 8192  # pixels per side of a /sprite or /picture answer (the projector's limit)
_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_MIME = {".js": "text/javascript", ".css": "text/css"}
_EMBEDDING_VIEWS = 4  # embeddings records kept indexed between requests (the view asks many tiles of one)


def _static_files():
    """Route -> (path, MIME type) for every .js/.css file shipped in `static/`: the allow-list.

    Built once from the package's own directory; a request only ever matches one
    of these exact routes, so no part of a URL is joined into a file path.
    """
    files = {}
    for folder, _, names in os.walk(_STATIC_DIR):
        for name in names:
            mime = _MIME.get(os.path.splitext(name)[1])
            if mime:
                path = os.path.join(folder, name)
                files["/" + os.path.relpath(path, _STATIC_DIR).replace(os.sep, "/")] = (path, mime)
    return files


class _BadRequest(Exception):
    """A query argument is missing or malformed (answered 400)."""


def _arg(request, name, required=True):
    values = request.args.getlist(name)
    if len(values) > 1:
        raise _BadRequest(f"Received {len(values)} values for `{name}`; expected one.")
    if not values:
        if required:
            raise _BadRequest(f"Missing query argument `{name}`.")
        return None
    value = values[0]
    if not value or len(value) > _MAX_ARG_CHARS or _CONTROL.search(value):
        raise _BadRequest(f"Received an invalid value for `{name}`: {value[:80]!r}.")
    return value


def _run_arg(request):
    run = _arg(request, "run")
    if ".." in re.split(r"[/\\]", run):
        raise _BadRequest(f"Received an invalid value for `run`: {run[:80]!r} (no `..` components).")
    return run


def _int_arg(request, name, low, high, required=True):
    value = _arg(request, name, required)
    if value is None:
        return None
    if not _INT.match(value) or not low <= int(value) <= high:
        raise _BadRequest(f"Received an invalid value for `{name}`: {value[:80]!r}; expected an integer in [{low}, {high}].")
    return int(value)


def _route(handler):
    """Wraps a handler: 400 for bad arguments, 404 for missing or unreadable data.

    Every answer goes through `http_util.Respond` (so says `nosniff`), also the
    500 of an unexpected exception, which is logged and answered without a
    traceback.
    """

    @wrappers.Request.application
    def app(self, request):
        try:
            return handler(self, request)
        except _BadRequest as error:
            return http_util.Respond(request, str(error), "text/plain", code=400)
        except errors.NotFoundError as error:
            return http_util.Respond(request, str(error), "text/plain", code=404)
        except metadata.RecordError as error:  # damaged data or a record version we cannot read
            return http_util.Respond(request, f"Not found: unreadable record: {error}", "text/plain", code=404)
        except errors.PublicError as error:  # e.g. the data server rejecting an argument
            return http_util.Respond(request, str(error), "text/plain", code=error.http_code)
        except Exception:  # a bug of ours: said in the log, answered without a traceback
            logger.exception("kerasviz: %s failed", request.path)
            return http_util.Respond(request, "Internal error in the kerasviz plugin", "text/plain", code=500)

    app.__name__ = handler.__name__
    return app


def _downsample_for(hints, name, default):
    value = (hints or {}).get(name, default)
    if value is None:
        return default
    return _NO_LIMIT if value == 0 else int(value)


def _encode_arrays(arrays):
    """JSON-ready descriptions of a record's arrays, in name order, sending `_MAX_JSON_ELEMENTS` elements at most."""
    left, encoded = _MAX_JSON_ELEMENTS, {}
    for name, array in sorted(arrays.items()):
        encoded[name] = _encode_array(array, send=array.size <= left)
        left -= array.size if "data" in encoded[name] else 0
    return encoded


def _encode_array(array, send):
    """A JSON-ready description of one array; float arrays are quantized to 8 bits per 2-D slice.

    `uint8-linear`: value = lo[s] + q / 255 * (hi[s] - lo[s]) for slice s (the
    last two axes; one slice for arrays of rank < 2); non-finite values get q = 0.
    Arrays are bool, integer or float (`metadata.decode_arrays` reads no other);
    their values are sent only when `send` is true, else `"omitted"`.
    """
    out = {"shape": list(array.shape), "dtype": str(array.dtype)}
    if _image_like(array):
        out["encoding"] = "image"
    elif array.dtype == np.uint8 and array.ndim >= 5 and array.shape[-1] in (1, 3, 4):
        out["encoding"] = "sprite"  # images in a grid of axes (e.g. crops [C, k, h, w, ch]): pixels via /sprite
    elif not send:
        out["encoding"] = "omitted"
    elif array.dtype.kind == "f" and array.size:
        out.update(_quantized(array))
    else:  # bool and integer arrays, and empty ones
        out.update(encoding="raw", data=array.astype(np.int64).ravel().tolist())
    return out


def _quantized(array):
    """`uint8-linear` encoding of a non-empty float array, computed in float64 (no overflow near the float32 limits)."""
    flat = array.reshape((-1, int(np.prod(array.shape[-2:]))) if array.ndim >= 2 else (1, -1))
    finite = np.isfinite(flat)
    lo = np.where(finite, flat, np.inf).min(axis=1).astype(np.float64)
    hi = np.where(finite, flat, -np.inf).max(axis=1).astype(np.float64)
    lo, hi = np.where(lo <= hi, lo, 0.0), np.where(lo <= hi, hi, 0.0)  # all non-finite: 0
    q = flat.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        q -= lo[:, None]
        q *= (255 / np.where(hi > lo, hi - lo, 1.0))[:, None]
    q[~finite] = 0
    np.clip(np.rint(q, out=q), 0, 255, out=q)
    return {"encoding": "uint8-linear", "lo": lo.tolist(), "hi": hi.tolist(), "nonfinite": int((~finite).sum()),
            "data": q.astype(np.uint8).ravel().tolist()}


def _image_like(array):
    return array.dtype == np.uint8 and (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (1, 3, 4)))


class KerasvizPlugin(base_plugin.TBPlugin):
    """Serves kerasviz records (tags `kerasviz/<family>/<method>`) to the dashboard."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        self._downsample = _downsample_for(context.sampling_hints, PLUGIN_NAME, DEFAULT_SAMPLES)
        self._scalar_downsample = {
            name: _downsample_for(context.sampling_hints, name, 1000) for name in _SCALAR_PLUGINS
        }
        self._cache = _ArrayCache(_CACHE_BYTES)
        self._views = collections.OrderedDict()  # arrays blob key -> (EmbeddingView, datum)
        self._views_lock = threading.Lock()

    def get_plugin_apps(self):
        apps = {
            "/runs": self._serve_runs,
            "/steps": self._serve_steps,
            "/record": self._serve_record,
            "/image": self._serve_image,
            "/scalars": self._serve_scalars,
            "/picture": self._serve_picture,
            "/sprite": self._serve_sprite,
            "/embedding_info": self._serve_embedding_info,
            "/embedding_tile": self._serve_embedding_tile,
            "/embedding_point": self._serve_embedding_point,
            "/embedding_thumbs": self._serve_embedding_thumbs,
        }
        apps.update({route: _static_app(*spec) for route, spec in _static_files().items()})
        return apps

    def is_active(self):
        return False  # the data provider's `list_plugins` decides

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="kerasviz")

    # ---------------------------------------------------------------- reading

    def _series(self, ctx, eid, run, tag):
        """`(metadata content dict, [BlobSequenceDatum])` of one series; NotFoundError when absent."""
        listing = self._provider.list_blob_sequences(
            ctx, experiment_id=eid, plugin_name=PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        series = listing.get(run, {}).get(tag)
        if series is None:
            raise errors.NotFoundError(f"no kerasviz series for run={run!r}, tag={tag!r}")
        content = metadata.parse_plugin_content(series.plugin_content)
        data = self._provider.read_blob_sequences(
            ctx, experiment_id=eid, plugin_name=PLUGIN_NAME, downsample=self._downsample,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return content, sorted(data.get(run, {}).get(tag, []), key=lambda d: d.step)

    def _datum(self, request):
        """`(ctx, run, tag, step, content, datum)`: the series a request names and its record at `step` (None if none)."""
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        run, tag = _run_arg(request), _arg(request, "tag")
        step = _int_arg(request, "step", -(2**63), 2**63 - 1)
        content, data = self._series(ctx, eid, run, tag)
        return ctx, run, tag, step, content, next((d for d in data if d.step == step), None)

    def _record(self, request):
        """`(run, tag, datum, header, arrays)` of the record a request names; checks it is ours."""
        ctx, run, tag, step, content, datum = self._datum(request)
        return (run, tag, datum) + self._read_record(ctx, run, tag, step, content, datum)

    def _read_record(self, ctx, run, tag, step, content, datum):
        """`(header, arrays)` of the record `datum` of a series (`content`: its metadata); checks it is ours."""
        if datum is None:
            raise errors.NotFoundError(f"no record at step {step} for run={run!r}, tag={tag!r}")
        if len(datum.values) != 2:
            raise metadata.RecordError(
                f"damaged kerasviz record at step {step}: {len(datum.values)} blob(s), expected 2")
        header = metadata.decode_header(self._provider.read_blob(ctx, blob_key=datum.values[0].blob_key))
        if header.get("family") != content["family"] or header.get("method") != content["method"]:
            raise metadata.RecordError(f"record header at step {step} does not belong to {tag!r}")
        return header, self._arrays(ctx, datum.values[1].blob_key)

    def _arrays(self, ctx, blob_key):
        arrays = self._cache.get(blob_key)
        if arrays is None:
            arrays = metadata.decode_arrays(self._provider.read_blob(ctx, blob_key=blob_key))
            self._cache.put(blob_key, arrays)
        return arrays

    # ---------------------------------------------------------------- routes

    @_route
    def _serve_runs(self, request):
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        runs = {}
        listing = self._provider.list_blob_sequences(ctx, experiment_id=eid, plugin_name=PLUGIN_NAME)
        for run, tags in listing.items():
            for tag, series in tags.items():
                entry = {"tag": tag, "max_step": series.max_step, "display_name": series.display_name}
                try:
                    content = metadata.parse_plugin_content(series.plugin_content)
                    entry.update(family=content["family"], method=content["method"],
                                 layer=metadata.layer_of_tag(tag))
                except metadata.RecordError as error:
                    entry["error"] = str(error)
                runs.setdefault(run, {"tags": [], "scalars": []})["tags"].append(entry)
        for plugin in _SCALAR_PLUGINS:
            for run, tags in self._provider.list_scalars(ctx, experiment_id=eid, plugin_name=plugin).items():
                for tag in tags:
                    parts = tag.split("/")
                    if parts[0] + "/" != metadata.TAG_PREFIX or len(parts) < 4:
                        continue
                    scalar = {"tag": tag, "family": parts[1], "method": "/".join(parts[2:-1]), "metric": parts[-1]}
                    runs.setdefault(run, {"tags": [], "scalars": []})["scalars"].append(scalar)
        result = [
            {"name": run, "tags": sorted(v["tags"], key=lambda e: e["tag"]),
             "scalars": sorted(v["scalars"], key=lambda e: e["tag"])}
            for run, v in sorted(runs.items())
        ]
        return http_util.Respond(request, {"runs": result}, "application/json")

    @_route
    def _serve_steps(self, request):
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        run, tag = _run_arg(request), _arg(request, "tag")
        content, data = self._series(ctx, eid, run, tag)
        steps = [{"step": d.step, "wall_time": d.wall_time} for d in data]
        body = {"run": run, "tag": tag, "family": content.get("family"), "method": content.get("method"), "steps": steps}
        return http_util.Respond(request, body, "application/json")

    @_route
    def _serve_record(self, request):
        run, tag, datum, header, arrays = self._record(request)
        body = {
            "run": run, "tag": tag, "step": datum.step, "wall_time": datum.wall_time, "header": header,
            "arrays": _encode_arrays(arrays),
        }
        return http_util.Respond(request, body, "application/json")

    @_route
    def _serve_image(self, request):
        index = _int_arg(request, "index", 0, 1_000_000)
        name = _arg(request, "array", required=False) or "images"
        if not _ARRAY_NAME.match(name):
            raise _BadRequest(f"Received an invalid value for `array`: {name[:80]!r}.")
        _, _, _, _, arrays = self._record(request)
        array = arrays.get(name)
        if array is None or not _image_like(array):
            raise errors.NotFoundError(f"no image array {name!r} in this record")
        if index >= array.shape[0]:
            raise errors.NotFoundError(f"image index {index} out of range (record holds {array.shape[0]})")
        _check_drawable(name, array[index])
        return http_util.Respond(request, _png(array[index]), "image/png")

    def _image_array(self, request):
        """`(name, array)`: the uint8 array named by the `array` argument, in the requested record."""
        name = _arg(request, "array")
        if not _ARRAY_NAME.match(name):
            raise _BadRequest(f"Received an invalid value for `array`: {name[:80]!r}.")
        _, _, _, _, arrays = self._record(request)
        array = arrays.get(name)
        if array is None or array.dtype != np.uint8:
            raise errors.NotFoundError(f"no uint8 array {name!r} in this record")
        return name, array

    @_route
    def _serve_picture(self, request):
        """The whole uint8 array `[H, W]` or `[H, W, C]` (C = 1, 3, 4) as one PNG (e.g. a filter grid)."""
        name, array = self._image_array(request)
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))):
            raise errors.NotFoundError(f"array {name!r} of shape {list(array.shape)} is not one image [H, W(, C)]")
        _check_drawable(name, array)
        return http_util.Respond(request, _png(array), "image/png")

    @_route
    def _serve_sprite(self, request):
        """Many images of one uint8 array tiled row-major into one PNG, without gaps.

        The array is `[..., h, w, C]` (rank >= 4, C = 1, 3, 4) or `[..., h, w]`
        (rank >= 3); its leading axes are flattened into a list of images, after
        taking item `index` of axis 0 when given. `columns` (default ceil(sqrt(n)))
        images per row; image i sits at column i % columns, row i // columns.
        """
        index = _int_arg(request, "index", 0, 1_000_000, required=False)
        columns = _int_arg(request, "columns", 1, _MAX_SPRITE_SIDE, required=False)
        name, array = self._image_array(request)
        image_rank = 3 if array.ndim >= 4 and array.shape[-1] in (1, 3, 4) else 2
        if array.ndim < image_rank + 1:
            raise errors.NotFoundError(f"array {name!r} of shape {list(array.shape)} is not a list of images")
        if index is not None:
            if index >= array.shape[0]:
                raise errors.NotFoundError(f"index {index} out of range (array {name!r} holds {array.shape[0]})")
            array = array[index : index + 1] if array.ndim == image_rank + 1 else array[index]
        if not array.size:
            raise errors.NotFoundError(f"array {name!r} holds no pixels")
        items = array.reshape((-1,) + array.shape[array.ndim - image_rank:])
        count, (h, w) = len(items), items.shape[1:3]
        columns = min(columns or int(np.ceil(np.sqrt(count))), count)
        rows = -(-count // columns)
        if rows * h > _MAX_SPRITE_SIDE or columns * w > _MAX_SPRITE_SIDE:
            raise _BadRequest(
                f"A sprite of {count} images of {h}x{w} in {columns} columns would be {columns * w}x{rows * h} px "
                f"(at most {_MAX_SPRITE_SIDE} per side): ask for one `index` at a time or other `columns`.")
        sheet = np.zeros((rows * h, columns * w) + items.shape[3:], np.uint8)
        for i, item in enumerate(items):
            row, column = divmod(i, columns)
            sheet[row * h : (row + 1) * h, column * w : (column + 1) * w] = item
        return http_util.Respond(request, _png(sheet), "image/png")

    def _embedding(self, request):
        """`(run, tag, datum, EmbeddingView)` of the embeddings record a request names, indexed once per record."""
        ctx, run, tag, step, content, datum = self._datum(request)
        if content.get("method") != "embeddings":
            raise errors.NotFoundError(f"{tag!r} is not an embeddings series")
        if datum is not None and len(datum.values) == 2:
            key = datum.values[1].blob_key
            with self._views_lock:
                if key in self._views:
                    self._views.move_to_end(key)
                    return run, tag, datum, self._views[key]
        header, arrays = self._read_record(ctx, run, tag, step, content, datum)
        try:
            view = embedding_tiles.EmbeddingView(header, arrays)
        except ValueError as error:
            raise metadata.RecordError(f"not an embeddings record: {error}") from None
        with self._views_lock:
            self._views[datum.values[1].blob_key] = view
            while len(self._views) > _EMBEDDING_VIEWS:
                self._views.popitem(last=False)
        return run, tag, datum, view

    def _tile_args(self, request):
        level = _int_arg(request, "level", 0, embedding_tiles.MAX_LEVEL)
        side = (1 << level) - 1
        return level, _int_arg(request, "tx", 0, side), _int_arg(request, "ty", 0, side)

    @_route
    def _serve_embedding_info(self, request):
        run, tag, datum, view = self._embedding(request)
        body = dict(view.info(), run=run, tag=tag, step=datum.step, wall_time=datum.wall_time)
        return http_util.Respond(request, body, "application/json")

    @_route
    def _serve_embedding_tile(self, request):
        """The points of one level-of-detail tile (`embedding_tiles`), at most `TILE_POINTS` of them."""
        level, tx, ty = self._tile_args(request)
        _, _, _, view = self._embedding(request)
        return http_util.Respond(request, view.tile(level, tx, ty), "application/json")

    @_route
    def _serve_embedding_point(self, request):
        index = _int_arg(request, "index", 0, 2**62)
        _, _, _, view = self._embedding(request)
        if index >= view.n:
            raise errors.NotFoundError(f"point {index} out of range (the record holds {view.n})")
        return http_util.Respond(request, view.point(index), "application/json")

    @_route
    def _serve_embedding_thumbs(self, request):
        """One PNG of a tile's thumbnails in its point order (ceil(sqrt(m)) columns); only for small tiles."""
        level, tx, ty = self._tile_args(request)
        _, _, _, view = self._embedding(request)
        sheet = view.thumbs(level, tx, ty)
        if sheet is None:
            raise errors.NotFoundError(
                f"no thumbnails for tile {level}/{tx}/{ty}: the record has none, the tile is empty, "
                f"or it holds more than {embedding_tiles.THUMB_TILE_MAX} points (zoom in)")
        return http_util.Respond(request, _png(sheet[0]), "image/png")

    def _metric_direction(self, ctx, eid, plugin, run, tag):
        """True/False/None: the direction the writer put in the scalar's description (`metadata.metric_direction`)."""
        listed = self._provider.list_scalars(ctx, experiment_id=eid, plugin_name=plugin,
                                             run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]))
        series = listed.get(run, {}).get(tag)
        return None if series is None else metadata.metric_direction(series.description)

    @_route
    def _serve_scalars(self, request):
        ctx, eid = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        run, tag = _run_arg(request), _arg(request, "tag")
        if not tag.startswith(metadata.TAG_PREFIX):
            raise errors.NotFoundError(f"{tag!r} is not a kerasviz metric")
        for plugin in _SCALAR_PLUGINS:
            data = self._provider.read_scalars(
                ctx, experiment_id=eid, plugin_name=plugin, downsample=self._scalar_downsample[plugin],
                run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
            )
            points = data.get(run, {}).get(tag)
            if points is not None:
                body = {"run": run, "tag": tag, "points": [
                    {"step": p.step, "wall_time": p.wall_time, "value": p.value} for p in points]}
                body["higher_is_better"] = self._metric_direction(ctx, eid, plugin, run, tag)
                return http_util.Respond(request, body, "application/json")
        raise errors.NotFoundError(f"no kerasviz metric for run={run!r}, tag={tag!r}")


def _check_drawable(name, image):
    """NotFoundError unless the uint8 image `[H, W(, C)]` has pixels and at most `_MAX_SPRITE_SIDE` a side."""
    if min(image.shape[:2]) < 1:
        raise errors.NotFoundError(f"array {name!r}: an image of shape {list(image.shape)} has no pixels")
    if max(image.shape[:2]) > _MAX_SPRITE_SIDE:
        raise errors.NotFoundError(f"array {name!r}: an image of shape {list(image.shape)} is too large to draw")


class _ArrayCache:
    """Decoded record arrays by blob key, least recently used first out, `max_bytes` in all.

    A record larger than the whole cache is not kept. Thread-safe (TensorBoard
    serves requests on several threads).
    """

    def __init__(self, max_bytes):
        self._max_bytes = max_bytes
        self._entries = collections.OrderedDict()  # blob key -> (arrays, bytes)
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, key):
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key, arrays):
        size = sum(array.nbytes for array in arrays.values())
        with self._lock:
            if size > self._max_bytes or key in self._entries:
                return
            self._entries[key] = (arrays, size)
            self.nbytes += size
            while self.nbytes > self._max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.nbytes -= evicted


def _png(array):
    """PNG bytes of a uint8 `[H, W]` or `[H, W, C]` array (C = 1, 3, 4); fast compression."""
    from PIL import Image  # noqa: PLC0415 (Pillow only when an image is asked for)

    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _static_app(path, mime):
    """A WSGI app serving one allow-listed file of `static/`."""

    @wrappers.Request.application
    def app(request):
        try:
            with open(path, "rb") as handle:
                content = handle.read()
        except OSError:
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        return http_util.Respond(request, content, mime)

    return app


class KerasvizLoader(base_plugin.TBLoader):
    """Loads `KerasvizPlugin` and keeps every record of a long run by default.

    TensorBoard keeps 10 records per blob-sequence series unless told otherwise,
    and sampling happens before any plugin reads. `fix_flags` runs before the
    data ingester is built, so when the user set nothing for `kerasviz` in
    `--samples_per_plugin`, it asks for `DEFAULT_SAMPLES` (500) per series.
    `--samples_per_plugin kerasviz=0` keeps all; `kerasviz=N` keeps N.
    """

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict) and PLUGIN_NAME not in samples:
            flags.samples_per_plugin = dict(samples, **{PLUGIN_NAME: DEFAULT_SAMPLES})

    def load(self, context):
        return KerasvizPlugin(context)
