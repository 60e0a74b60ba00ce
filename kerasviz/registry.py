"""Every attribution method as one record: the one home of what a method is.

The callbacks, the CLI, `kerasviz.metrics`, `explain_dataset`, the noise
tunnel, the figures and the invariant tests read a method's facts here, and
only here: its function, its paper, its family, whether it explains at a
layer, what its output looks like and how it maps to pixels, whether low
values mark what matters, how it is drawn, its cost per image, and its
parameters with their defaults (read from its signature once). `resolve` is
the one reader of "a method name or a callable, with parameters".

Records load their functions lazily (`Method.function`): importing the
registry imports no method module and no TensorFlow, so the methods (the
noise tunnel among them) can import it, and the CLI can list the methods
without loading a model library.

Adding a method: its module, its record in `METHODS` (and its settings in
`tests/helpers/method_settings.py`, its name in the API snapshot if it is exported).
"""

import dataclasses
import functools
import importlib
import inspect
import re
import typing

# What every method takes positionally or by the same name: not among its parameters.
CALL_ARGUMENTS = ("model", "images", "target", "batch_size")
FAMILIES = ("gradient", "noise_tunnel", "path", "cam", "perturbation", "relevance")
OUTPUTS = ("pixels", "grid")  # a map per pixel `[B, H, W]`, or a score per position of a grid `[B, nY, nX]`


class Cost(typing.NamedTuple):
    """What a method costs per image, in passes of the model over one image.

    `forward` and `backward` count the model's evaluations: the images the
    model is run on (`tests/across` counts them). `rule_passes` is the work a
    propagation rule cannot do without *inside* its backward pass, beyond
    the plain gradient of those evaluations, in forward+backward passes of
    the model: LRP's z+ and gamma rules run each layer's forward again with
    modified weights (half a pass), alpha-beta with beta a forward and a
    backward (1.0: its negative sum is the output less the positive one),
    on non-negative inputs into a layer a ReLU reads, more on inputs of
    either sign or outputs of both signs (`Rule.passes_at`), weighed by the
    layers' share of the multiply-adds (`kerasviz.relevance.lrp.rule_passes`);
    RevealCancel's spreads one forward and backward of the absolute weights
    per pair (1 per reference).
    The benchmarks count `forward + backward + rule_passes` as the method's
    own minimum, so their ratio measures the implementation's overhead, not
    the rule's inherent work.

    Attributes:
        forward: forward passes alone (occlusion's positions, RISE's masks,
            LIME's samples, Score-CAM's channels, DeepLIFT's reference, and
            the pass that finds the predicted class before the others).
        backward: forward and backward passes (a gradient each: SmoothGrad's
            samples, Integrated Gradients' path points, DeepLIFT's image).
        rule_passes: a rule's inherent work inside the backward passes, in
            forward+backward passes (a float; 0 for plain gradients).
    """

    forward: int = 0
    backward: int = 0
    rule_passes: float = 0.0


@functools.lru_cache(maxsize=None)
def load(path):
    """The object a `"package.module:name"` path names (imported on first use)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def parameters_of(function):
    """`{name: default}` of a method's keyword parameters beyond `CALL_ARGUMENTS` (`{}` without a signature)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: checked when called
        return {}
    return {name: p.default for name, p in signature.parameters.items()
            if name not in CALL_ARGUMENTS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.default is not p.empty}


@dataclasses.dataclass(frozen=True)
class Method:
    """What one attribution method is.

    Attributes:
        name: the registry name (also the function's name).
        path: `"package.module:function"`, loaded on first use (`function`).
        paper: the paper it follows, as cited in the README's table.
        family: one of `FAMILIES`.
        passes: `passes(model, image_shape, params) -> Cost`, `params` holding
            every parameter (defaults filled in).
        takes_layer: it explains at a spatial layer (`layer=`, default the
            Grad-CAM layer, `kerasviz.models.default_layer(model, "grad_cam")`).
        output: `"pixels"` (`[B, H, W]`) or `"grid"` (`[B, nY, nX]`, one score per
            position: `geometry` and `to_pixels` say how it maps to pixels).
        lower_is_important: low values mark the regions that matter (a score
            under perturbation).
        shown_as_regions: figures draw it as the image kept in its top
            regions (`kerasviz.image.top_regions`), not as a colour wash.
        geometry: for a grid, `"module:function"` of `(height, width, params)
            -> {"patch": int, "stride": int, "shape": [nY, nX]}`, the grid
            actually used (in pixels; what records carry as `grid`).
        to_pixels: for a grid, `"module:function"` of `(maps, (H, W), params)
            -> [B, H, W]`.
        several_inputs: it takes a model with several inputs (`images` a dict
            or a list, `attribute=`), giving a map per image input.
    """

    name: str
    path: str
    paper: str
    family: str
    passes: typing.Callable
    takes_layer: bool = False
    output: str = "pixels"
    lower_is_important: bool = False
    shown_as_regions: bool = False
    geometry: typing.Optional[str] = None
    to_pixels: typing.Optional[str] = None
    several_inputs: bool = False

    @property
    def function(self):
        return load(self.path)

    @property
    def parameters(self):
        """`{name: default}` of the method's own keyword parameters."""
        return parameters_of(self.function)

    def accepts(self, key):
        return key in self.parameters

    def with_defaults(self, params=None):
        """`params` with the method's defaults filled in for the parameters not given."""
        return {**self.parameters, **dict(params or {})}

    def cost(self, model, image_shape, params=None) -> Cost:
        """The passes of `model` per image that the method makes with `params` (see `cost`)."""
        return self.passes(model, tuple(image_shape), self.with_defaults(params))

    def grid(self, image_shape, params=None):
        """The grid a `"grid"` method uses on images of `image_shape` (`{"patch", "stride", "shape"}`), else None."""
        if self.geometry is None:
            return None
        return load(self.geometry)(*tuple(image_shape)[:2], self.with_defaults(params))

    def map_shape(self, image_shape, params=None):
        """The `(h, w)` of one image's map: the image's, or the grid's `(nY, nX)`."""
        grid = self.grid(image_shape, params)
        return tuple(image_shape)[:2] if grid is None else tuple(grid["shape"])

    def pixel_maps(self, maps, image_size, params=None):
        """A grid method's `[B, nY, nX]` brought to `[B, H, W]` (other methods' maps as they are)."""
        if self.to_pixels is None:
            return maps
        return load(self.to_pixels)(maps, tuple(image_size), self.with_defaults(params))


def _one_gradient(model, shape, p):
    return Cost(backward=1)  # the class is read from the same pass


def _sampled(model, shape, p):
    return Cost(forward=1, backward=p["samples"])  # the class of `target=None` is found first


def _path(model, shape, p):
    return Cost(forward=1, backward=len(load("kerasviz.gradients.integrated:path_points")(p["rule"], p["steps"])[0]))


def _occlusion(model, shape, p):  # every occluder position and the clean image (naive inference)
    return Cost(forward=load("kerasviz.activations.occlusion:position_count")(shape, p["patch"], p["stride"]) + 1)


def _score_cam(model, shape, p):  # the clean image and each channel of the layer
    return Cost(forward=1 + load("kerasviz.gradients.score_cam:channel_count")(model, shape, p["layer"],
                                                                             p["max_channels"]))


def _xrai(model, shape, p):  # Integrated Gradients by default; a given `attribution` costs what it cost
    return Cost(forward=1, backward=p["steps"]) if p["attribution"] is None else Cost(forward=1)


def _layer_path(model, shape, p):  # the path, the baselines' pass to the layer, the class of `target=None`
    return Cost(forward=2, backward=_path(model, shape, p).backward)


def _neuron(model, shape, p):  # `neuron=None` finds each image's channel first: one more backward pass
    return Cost(forward=1, backward=_path(model, shape, p).backward + (p["neuron"] is None))


def _pair_cost(pairs, p):
    """(image, reference) pairs: the reference forward alone, the image under the tape (RevealCancel's spreads)."""
    extra = pairs * load("kerasviz.relevance.deeplift:rule_passes")(p)
    return Cost(forward=pairs, backward=pairs, rule_passes=extra)


def _deeplift(model, shape, p):
    return _pair_cost(1, p)


def _deeplift_shap(model, shape, p):
    return _pair_cost(load("kerasviz.relevance.deeplift:reference_count")(p) or 0, p)


def _lrp(model, shape, p):  # one gradient, its rules' modified forwards inside
    return Cost(backward=1, rule_passes=load("kerasviz.relevance.lrp:rule_passes")(model, shape, p))


_OCCLUSION = "kerasviz.activations.occlusion"
_RELEVANCE = "kerasviz.relevance"
METHODS = {m.name: m for m in [
    Method("saliency", "kerasviz.gradients.saliency:saliency", "Simonyan et al. 2013", "gradient", _one_gradient,
           several_inputs=True),
    Method("guided_backprop", "kerasviz.gradients.saliency:guided_backprop", "Springenberg et al. 2015",
           "gradient", _one_gradient),
    Method("smoothgrad", "kerasviz.gradients.smoothgrad:smoothgrad", "Smilkov et al. 2017", "noise_tunnel",
           _sampled, several_inputs=True),
    Method("integrated_gradients", "kerasviz.gradients.integrated:integrated_gradients",
           "Sundararajan et al. 2017", "path", _path, several_inputs=True),
    Method("grad_cam", "kerasviz.gradients.cam:grad_cam", "Selvaraju et al. 2017", "cam", _one_gradient,
           takes_layer=True, several_inputs=True),  # the backward pass stops at the layer
    Method("guided_grad_cam", "kerasviz.gradients.cam:guided_grad_cam", "Selvaraju et al. 2017", "cam",
           lambda model, shape, p: Cost(backward=2), takes_layer=True, several_inputs=True),  # Grad-CAM and guided backprop
    Method("occlusion", f"{_OCCLUSION}:occlusion", "Zeiler & Fergus 2014", "perturbation", _occlusion,
           output="grid", lower_is_important=True, geometry=f"{_OCCLUSION}:grid_of",
           to_pixels=f"{_OCCLUSION}:grid_to_pixels", several_inputs=True),
    Method("gradient_x_input", "kerasviz.gradients.gradient_input:gradient_x_input", "Shrikumar et al. 2016",
           "gradient", _one_gradient, several_inputs=True),
    Method("deconvnet", "kerasviz.gradients.deconvnet:deconvnet", "Zeiler & Fergus 2014", "gradient",
           _one_gradient),
    Method("smoothgrad_squared", "kerasviz.gradients.smoothgrad:smoothgrad_squared", "Hooker et al. 2019",
           "noise_tunnel", _sampled),
    Method("vargrad", "kerasviz.gradients.smoothgrad:vargrad", "Adebayo et al. 2018", "noise_tunnel", _sampled),
    Method("grad_cam_plus_plus", "kerasviz.gradients.cam_variants:grad_cam_plus_plus", "Chattopadhyay et al. 2018",
           "cam", _one_gradient, takes_layer=True, several_inputs=True),
    Method("layer_cam", "kerasviz.gradients.cam_variants:layer_cam", "Jiang et al. 2021", "cam", _one_gradient,
           takes_layer=True, several_inputs=True),
    Method("score_cam", "kerasviz.gradients.score_cam:score_cam", "Wang et al. 2020", "cam", _score_cam,
           takes_layer=True, several_inputs=True),
    Method("blur_integrated_gradients", "kerasviz.gradients.baselines:blur_integrated_gradients", "Xu et al. 2020",
           "path", _path),
    Method("expected_gradients", "kerasviz.gradients.baselines:expected_gradients", "Erion et al. 2021", "path",
           _sampled),
    Method("gradient_shap", "kerasviz.gradients.baselines:gradient_shap", "Lundberg & Lee 2017", "path", _sampled),
    Method("guided_integrated_gradients", "kerasviz.gradients.guided_ig:guided_integrated_gradients",
           "Kapishnikov et al. 2021", "path", lambda model, shape, p: Cost(forward=1, backward=p["steps"])),
    Method("rise", "kerasviz.perturbation.rise:rise", "Petsiuk et al. 2018", "perturbation",
           lambda model, shape, p: Cost(forward=1 + p["masks"]), several_inputs=True),
    Method("lime", "kerasviz.perturbation.lime:lime", "Ribeiro et al. 2016", "perturbation",
           lambda model, shape, p: Cost(forward=1 + p["samples"])),
    Method("kernel_shap", "kerasviz.perturbation.lime:kernel_shap", "Lundberg & Lee 2017", "perturbation",
           lambda model, shape, p: Cost(forward=1 + p["samples"] + 2)),  # + all features on and all off
    Method("xrai", "kerasviz.perturbation.xrai:xrai", "Kapishnikov et al. 2019", "perturbation", _xrai,
           shown_as_regions=True),
    Method("lrp", f"{_RELEVANCE}.lrp:lrp", "Bach et al. 2015", "relevance", _lrp, several_inputs=True),
    Method("deeplift", f"{_RELEVANCE}.deeplift:deeplift", "Shrikumar et al. 2017", "relevance", _deeplift,
           several_inputs=True),
    Method("deeplift_shap", f"{_RELEVANCE}.deeplift:deeplift_shap", "Lundberg & Lee 2017", "relevance",
           _deeplift_shap),
    # Attribution to a layer's units (a pixel map by default, `output=` for the units' or channels' values).
    Method("layer_gradient_x_activation", f"{_RELEVANCE}.layer_attribution:layer_gradient_x_activation",
           "Shrikumar et al. 2016", "gradient", _one_gradient, takes_layer=True),
    Method("layer_integrated_gradients", f"{_RELEVANCE}.layer_attribution:layer_integrated_gradients",
           "Sundararajan et al. 2017", "path", _layer_path, takes_layer=True),
    Method("layer_conductance", f"{_RELEVANCE}.conductance:layer_conductance", "Dhamdhere et al. 2018", "path",
           _path, takes_layer=True),
    Method("neuron_conductance", f"{_RELEVANCE}.conductance:neuron_conductance", "Dhamdhere et al. 2018", "path",
           _neuron, takes_layer=True),
]}


class _Functions(typing.Mapping):
    """`{name: function}` of every method, each loaded when first read."""

    def __getitem__(self, name):
        return METHODS[name].function

    def __iter__(self):
        return iter(METHODS)

    def __len__(self):
        return len(METHODS)


ATTRIBUTION_METHODS = _Functions()  # the functions by name, for scripts that call them; the facts are in METHODS


def names_with(fact):
    """The names of the methods whose record has `fact` true (`"takes_layer"`, `"lower_is_important"`, ...)."""
    return [name for name, method in METHODS.items() if getattr(method, fact)]


def get(name, argname="methods") -> Method:
    """The record of the method `name`, or a ValueError naming `argname` and the methods there are."""
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"Received an unknown method in `{argname}`: {name!r}. Available: {sorted(METHODS)}.")
    return METHODS[name]


def cost(name: str, model, image_shape, params=None) -> Cost:
    """The passes of `model` per image that the method `name` makes with `params`.

    The method's defaults fill in the parameters not in `params`; the
    layer-reading methods resolve their default layer for `image_shape` (as
    they do when called). Multiply by the seconds of one pass (for instance
    `kerasviz.model_cost.time_passes`) for the method's time.

    Args:
        name: a method of `METHODS`.
        model: the Keras model the method would run.
        image_shape: the images' `(H, W, C)`.
        params: the method's keyword arguments, as it would be called with.

    Returns:
        A `Cost` (forward passes, forward and backward passes).

    Raises:
        ValueError: an unknown `name`, or parameters the method itself would
            refuse (an occluder larger than the image, an unknown layer).

    Example:

    >>> kerasviz.registry.cost("smoothgrad", model, (224, 224, 3), {"samples": 50})
    Cost(forward=1, backward=50)
    """
    return get(name, "name").cost(model, image_shape, params)


class Entry(typing.NamedTuple):
    """One method as `resolve` read it: its name, function, the parameters given, and its record.

    `method` is None for a callable that is not a registered method.
    """

    name: str
    function: typing.Callable
    params: dict
    method: typing.Optional[Method]

    def accepts(self, key):
        return self.method.accepts(key) if self.method is not None else key in parameters_of(self.function)

    def with_defaults(self):
        """The parameters given with the function's defaults filled in: what a record says was computed."""
        defaults = self.method.parameters if self.method is not None else parameters_of(self.function)
        return {**defaults, **self.params}


_BY_FUNCTION = {m.path: m for m in METHODS.values()}


def record_of(function):
    """The record of a registered method's function, else None."""
    path = f"{getattr(function, '__module__', '')}:{getattr(function, '__name__', '')}"
    return _BY_FUNCTION.get(path)


def _is_pair(value):
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict)


def resolve(methods, argname="methods", callables=True) -> list:
    """Reads methods as every entry point takes them: names, callables, `(name or callable, params)` pairs.

    Args:
        methods: a non-empty list or tuple of entries; an entry is
            a registered name, a callable with the common call shape
            `f(model, images, target, *, batch_size, ...)` (when
            `callables`), or a pair of one of these and a dict of its
            keyword arguments.
        argname: the argument's name in error messages.
        callables: whether callables are accepted (a resumable run needs names).

    Returns:
        A list of `Entry(name, function, params, method)`, in order; a
        callable's name is its `__name__` made safe for tags and file names.

    Raises:
        TypeError: not a method, a list of them, or a params dict.
        ValueError: an unknown name, an empty list, a method named twice.
    """
    kinds = "method names, callables" if callables else "method names"
    if not isinstance(methods, (list, tuple)) or not methods or _is_pair(methods):
        raise TypeError(f"Expected `{argname}` to be a non-empty list of {kinds} or (method, params dict) "
                        f"pairs. Received: {argname}={methods!r}.")
    entries = []
    for entry in methods:
        method, params = entry if _is_pair(entry) or isinstance(entry, tuple) and len(entry) == 2 else (entry, {})
        if not isinstance(params, dict):
            raise TypeError(f"Expected the parameters of {method!r} in `{argname}` to be a dict. "
                            f"Received: {params!r}.")
        if isinstance(method, str):
            record = get(method, argname)
            entries.append(Entry(method, record.function, dict(params), record))
        elif callable(method) and callables:
            record = record_of(method)
            name = record.name if record else re.sub(r"[^A-Za-z0-9_.-]", "_", getattr(
                method, "__name__", type(method).__name__)).strip("_") or "method"
            entries.append(Entry(name, method, dict(params), record))
        elif callable(method):
            raise TypeError(f"Received a callable in `{argname}`: {entry!r}. Here methods are taken by name (a "
                            "resumed run must know it computes the same method): one of " + ", ".join(METHODS) + ".")
        else:
            raise TypeError(f"Received an invalid entry in `{argname}`: {entry!r}. Expected one of {kinds}, or "
                            "a pair of one and a params dict. Registered methods: " + ", ".join(METHODS) + ".")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"Received a method twice in `{argname}`: {names}.")
    for entry in entries:
        _check_params(entry, argname)
    return entries


def _check_params(entry, argname):
    """A TypeError naming the method when its function cannot take `entry.params`."""
    try:
        signature = inspect.signature(entry.function)
    except (TypeError, ValueError):  # builtins without a signature: checked when called
        return
    try:
        signature.bind(None, None, target=None, batch_size=None, **entry.params)
    except TypeError as error:
        raise TypeError(f"Received invalid parameters for {entry.name!r} in `{argname}`: {entry.params!r} "
                        f"({error}).") from None
