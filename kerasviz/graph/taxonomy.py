"""What each kind of layer is: the one layer taxonomy every reader of a model's graph uses.

A layer has a **role**, what it is for in a network (it makes features, it
is an activation, a normalization, a pass-through at inference, a merge, a
pooling, global pooling, or structural: input, padding, reshaping,
preprocessing), and a **geometry**, how its output positions depend on its
input positions:

- `POINTWISE`: each output position reads the same input position only;
  `shared` when the same function runs at every position (a region of the
  map can then be computed alone): activations (a `PReLU` only when its
  slopes are shared over both spatial axes), dropout and noise, `Dense` on
  the channel axis, normalizations and softmax over the channel axis,
  `Rescaling`, `Normalization`, ConvNeXt's `LayerScale`;
- `WINDOW`: a sliding window (`Conv2D`, `DepthwiseConv2D`,
  `SeparableConv2D`, `MaxPooling2D`, `AveragePooling2D`) with a
  `windows.Window` per spatial axis and its padding;
- `SHIFT`: rows and columns added or removed (`ZeroPadding2D`, `Cropping2D`);
- `MERGE`: several maps combined position by position (`Add`, `Subtract`,
  `Multiply`, `Average`, `Maximum`, `Minimum`, `Concatenate` on the channel
  axis; also as Keras ops, `x + y` in ConvNeXt);
- `GLOBAL`: the whole map in one vector (global pooling);
- `OTHER`: anything else (`Flatten`, `UpSampling2D`, `GroupNormalization`,
  a normalization over a spatial axis, `channels_first`, a `Lambda`, a
  layer kerasviz does not know).

A layer is of a kind only when it is that Keras class itself: a subclass
may compute something else (a weight-standardized `Conv2D` is no plain
convolution), so it is a layer we do not know.
"""

from typing import NamedTuple

import keras

from kerasviz import patching
from kerasviz.graph.windows import Window

# Roles: what a layer is for.
FEATURES = "features"  # weighted layers (convolutions, dense) and layers we do not know
ACTIVATION = "activation"
NORMALIZATION = "normalization"
PASS = "pass"  # dropout, noise, identity: nothing at inference
SCALE = "scale"  # a learned per-channel scale (ConvNeXt's LayerScale)
MERGE = "merge"
POOLING = "pooling"
GLOBAL_POOLING = "global_pooling"
STRUCTURAL = "structural"  # input, padding, cropping, reshaping, preprocessing
# Roles that act elementwise (or per position) on one input: the producer's meaning passes on.
CARRIERS = (NORMALIZATION, PASS, ACTIVATION, SCALE)

# Geometries: how output positions depend on input positions.
POINTWISE, WINDOW, SHIFT, GLOBAL, OTHER = "pointwise", "window", "shift", "global", "other"

_NAMES = {
    NORMALIZATION: ("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
                    "SyncBatchNormalization", "RMSNormalization"),
    PASS: ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
           "GaussianNoise", "AlphaDropout", "ActivityRegularization", "Identity"),
    ACTIVATION: ("ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation"),
    SCALE: ("LayerScale",),
    MERGE: ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract"),
    STRUCTURAL: ("InputLayer", "ZeroPadding2D", "Cropping2D", "Reshape", "Flatten", "Permute", "Rescaling",
                 "Normalization", "Resizing", "CenterCrop", "UpSampling2D", "RepeatVector"),
    POOLING: tuple(n for n in dir(keras.layers) if "Pooling" in n and not n.startswith("Global")),
    GLOBAL_POOLING: tuple(n for n in dir(keras.layers) if n.startswith("Global") and "Pooling" in n),
}
_ROLES = {name: role for role, names in _NAMES.items() for name in names}
# Keras ops called on symbolic tensors that merge maps position by position (`keras.ops.average` reduces: not one).
_MERGE_OPS = ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Concatenate")
_WINDOW_OPS = {"Conv2D": "conv", "DepthwiseConv2D": "depthwise", "SeparableConv2D": "separable",
               "MaxPooling2D": "max_pool", "AveragePooling2D": "avg_pool"}
_CHANNEL_AXIS = ("BatchNormalization", "LayerNormalization", "UnitNormalization", "RMSNormalization", "Softmax",
                 "Normalization")  # per position when their axis is the channel axis
_POINTWISE = ("InputLayer", "ReLU", "LeakyReLU", "ELU", "Activation", "Dense", "Rescaling", "LayerScale") + \
    _NAMES[PASS]


class Kind(NamedTuple):
    """What one layer is: its Keras class, role and geometry (see the module's docstring)."""

    name: str  # the Keras class ("Conv2D"); a class kerasviz does not know: its own name
    role: str
    geometry: str
    shared: bool = False  # POINTWISE: the same function at every position
    windows: tuple = ()  # WINDOW: a `Window` per spatial axis (rows, columns)
    padding: object = None  # WINDOW: "same" or "valid"; SHIFT: ((top, bottom), (left, right)), negative for crops
    op: str = ""  # WINDOW: "conv", "depthwise", "separable", "max_pool" or "avg_pool"
    why: str = ""  # OTHER: why positions cannot be followed through it

    def describe(self, path):
        """`'path' (Class)`, and why the positions cannot be followed through it when it says."""
        return f"{path!r} ({self.name}{': ' + self.why if self.why else ''})"


def keras_name(layer):
    """The Keras class name of `layer`, or None for a class of its own (a subclass, a custom layer)."""
    cls = type(layer)
    return cls.__name__ if cls.__module__.split(".")[0] == "keras" else None


def _last_axis(axis):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return axes in ([-1], [3])


def kind_of(layer) -> Kind:
    """The `Kind` of a layer or Keras op."""
    name = keras_name(layer)
    if name is None:
        return Kind(type(layer).__name__, FEATURES, OTHER)
    if not isinstance(layer, keras.layers.Layer):  # a Keras op on symbolic tensors
        if name in _MERGE_OPS and (name != "Concatenate" or _last_axis(getattr(layer, "axis", None))):
            return Kind(name, MERGE, MERGE)
        return Kind(name, FEATURES, OTHER)
    role = _ROLES.get(name, FEATURES)
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return Kind(name, role, OTHER, why="channels_first")
    return Kind(name, role, *_geometry(layer, name, role))


def _geometry(layer, name, role):
    """`(geometry, shared, windows, padding, op, why)` of a Keras layer."""
    if name in _WINDOW_OPS:
        if name.endswith("Pooling2D"):
            kernels, strides, dilations = layer.pool_size, layer.strides or layer.pool_size, (1, 1)
        else:
            kernels, strides, dilations = layer.kernel_size, layer.strides, layer.dilation_rate
        if layer.padding not in ("same", "valid"):
            return OTHER, False, (), None, "", f"padding {layer.padding!r}"
        windows = tuple(Window(int(k), int(s), int(d)) for k, s, d in zip(kernels, strides, dilations))
        return WINDOW, False, windows, layer.padding, _WINDOW_OPS[name], ""
    if name == "ZeroPadding2D":
        return SHIFT, False, (), tuple(tuple(p) for p in layer.padding), "", ""
    if name == "Cropping2D":
        return SHIFT, False, (), tuple((-b, -e) for b, e in layer.cropping), "", ""
    if role == MERGE:
        if name == "Concatenate" and not _last_axis(layer.axis):
            return OTHER, False, (), None, "", "concatenates along a spatial axis"
        return MERGE, False, (), None, "", ""
    if role == GLOBAL_POOLING:
        return GLOBAL, False, (), None, "", ""
    if name in _CHANNEL_AXIS:
        axis = getattr(layer, "axis", -1)
        if _last_axis(axis) or (axis is None and name == "Normalization"):  # None: one mean and variance
            return POINTWISE, True, (), None, "", ""
        return OTHER, False, (), None, "", "normalizes over a spatial axis"
    if name == "PReLU":  # one slope per position unless shared over both spatial axes
        return POINTWISE, {1, 2} <= set(layer.shared_axes or ()), (), None, "", ""
    if name in _POINTWISE:
        return POINTWISE, True, (), None, "", ""
    return OTHER, False, (), None, "", ""


def activation_of(layer):
    """The layer's activation function, seen through a kerasviz dispatcher (or None)."""
    return patching.original(layer, "activation")


def has_kernel(layer):
    """Whether `layer` has weights it multiplies its input by (a convolution or dense kernel)."""
    return getattr(layer, "kernel", None) is not None or getattr(layer, "depthwise_kernel", None) is not None


def is_nonlinear_activation(layer):
    """An activation layer with a nonlinearity (not linear, not a softmax)."""
    name = keras_name(layer)
    if name in ("ReLU", "LeakyReLU", "PReLU", "ELU"):
        return True
    fn = activation_of(layer) if name == "Activation" else None
    return fn is not None and fn not in (keras.activations.linear, keras.activations.softmax)


def fused_nonlinearity(layer):
    """A weighted layer with a nonlinear activation fused into it."""
    fn = activation_of(layer) if has_kernel(layer) else None
    return fn is not None and fn is not keras.activations.linear


def conv_kernel(layer):
    """Whether `layer` has a 2-D convolution kernel `[kh, kw, in, out]` (its filters can be drawn)."""
    kernel = getattr(layer, "kernel", None)
    return kernel is not None and len(kernel.shape) == 4 and not isinstance(layer, keras.Model)
