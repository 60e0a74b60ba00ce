"""Relevance carried backward through the user's own layers, in our trace only.

`Trace.add_overrides` gives every layer of the model (nested ones too) a
per-thread override (`kerasviz.patching`): the layer computes exactly what it
computes, and its output is relayed through a `tf.custom_gradient` whose
backward maps the relevance of the outputs to the relevance of the inputs by
the layer's rule (`kerasviz.relevance.canonizers.kind_of`). A
`tf.GradientTape` asked for the gradient of the score then returns the
relevance of the pixels: the whole propagation is one backward pass, compiled
with the forward pass.

While the model runs, the trace records every layer call (its inputs and its
output), so that after the forward pass `check` knows the network as it was
called, whatever its form: which BatchNormalization follows which linear
layer alone (then merged into it), which layers the relevance reaches (a
squeeze-and-excitation gate's branch gets none), and which of those no rule
handles (an error names them) or only approximately (a warning names them).
The backward functions run after `check` and read its decisions.
"""

import warnings

import keras
import tensorflow as tf

from kerasviz import models
from kerasviz.relevance import canonizers
from kerasviz.relevance.rules import Epsilon, shares

STABILIZER = 0.0  # sums, average pooling and a BatchNormalization alone: the exact split (0 where z is 0)


class Call:
    """One call of one layer during the trace."""

    def __init__(self, path, layer, kind, reason, inputs, output, raw, pre=None, relay=None):
        self.path, self.layer, self.kind, self.reason = path, layer, kind, reason
        self.inputs, self.output, self.raw, self.pre = inputs, output, raw, pre
        self.relay = relay  # what the layer's call was given and computes: (call, args, kwargs)
        self.bn = None  # the BatchNormalization call merged into this linear call
        self.merged = False  # a BatchNormalization merged into the linear call before it
        self.gate = None  # the index of a Multiply's gate input
        self.nonnegative = self.input_nonnegative = False  # its output, its inputs are >= 0 (a ReLU's)
        self.rectified = False  # a linear layer whose output only a ReLU reads (fused or its own layer)


class Trace:
    """The layer calls of one trace of one model, and the relevance rules they get."""

    def __init__(self, model, composite, images, bounds=None, nonnegative=False):
        """`images`: the input tensor, or a list of them (a model with several inputs); then `bounds` (None or
        `(low, high)`) and `nonnegative` are lists with one per input."""
        several = isinstance(images, (list, tuple))
        images, bounds, nonnegative = (list(images), list(bounds or [None] * len(images)), list(nonnegative)) \
            if several else ([images], [bounds], [nonnegative])
        self.name = model.name  # no reference to the model: the graph keeps the trace
        self.bounds = {x.ref(): b for x, b in zip(images, bounds) if b is not None}
        self.inputs_nonnegative = {x.ref(): bool(n) for x, n in zip(images, nonnegative)}
        self.calls, self.produced = [], {}
        self.pre_activations = {}
        self.smooth, self.unknown, self.unseen = [], [], []
        bypassed = models.output_layer(model)
        self.layers = []
        for path, layer in models.iter_layers(model):
            if _is_container(layer):
                continue
            kind, reason = canonizers.kind_of(layer, bypassed=layer is bypassed)
            self.layers.append((path, layer, kind, reason))
        linear = [(p, l) for p, l, k, _ in self.layers if k == "linear"]
        composite.check_names(linear)
        self.rules = {id(l): composite.rule_for(p, l, i, len(linear)) for i, (p, l) in enumerate(linear)}

    # ------------------------------------------------------------------ forward: the overrides

    def add_overrides(self, frame):
        """`models.patched`'s `overrides`: one override per layer of the model."""
        for path, layer, kind, reason in self.layers:
            frame.add(layer, "call", self._override(path, layer, kind, reason))
            if kind == "linear" and canonizers.activation_of(layer) != "linear":
                frame.add(layer, "activation", self._pre_activation(layer))

    def _pre_activation(self, layer):
        def record(fn, x, *args, **kwargs):
            self.pre_activations[id(layer)] = x
            return fn(x, *args, **kwargs)

        return record

    def _override(self, path, layer, kind, reason):
        def override(call, *args, **kwargs):
            self.pre_activations.pop(id(layer), None)
            raw = call(*args, **kwargs)
            inputs = [t for t in tf.nest.flatten(args[0] if args else kwargs.get("inputs")) if tf.is_tensor(t)]
            record = Call(path, layer, kind, reason, inputs, None, raw, self.pre_activations.pop(id(layer), None),
                          (call, args, kwargs))
            index = len(self.calls)
            self.calls.append(record)
            if kind in ("route", "max_pool", "unknown"):  # relevance as the gradient: exact for routes
                output = tf.identity(raw)
            else:
                output = _relay(inputs, raw, lambda r, i=index: self._backward(self.calls[i], r))
            record.output = output
            self.produced[output.ref()] = index
            self._forward_bounds(record)
            return output

        return override

    def _forward_bounds(self, record):
        """Carries the images' bounds through elementwise preprocessing and reshaping (for the z^B rule)."""
        if record.kind not in ("pass", "route") or len(record.inputs) != 1:
            return
        source = self._resolve(record.inputs[0])
        bounds = self.bounds.get(source)
        if bounds is not None:
            call, args, kwargs = record.relay
            low, high = (call(b, *args[1:], **kwargs) for b in bounds)
            self.bounds[record.output.ref()] = (tf.minimum(low, high), tf.maximum(low, high))

    def _resolve(self, tensor):
        """The ref of the recorded output (or images) `tensor` comes from, through casts and identities."""
        for t in canonizers.passed_on(tensor):
            if t.ref() in self.produced or t.ref() in self.inputs_nonnegative:
                return t.ref()
        return None

    # ------------------------------------------------------------------ after the forward pass

    def check(self, outputs, method="lrp"):
        """Merges BatchNormalization, finds where relevance goes, refuses or warns about layers (see module)."""
        producers = [[self._resolve(t) for t in call.inputs] for call in self.calls]
        readers = {}  # the ref of a recorded output -> the calls that read it
        for index, sources in enumerate(producers):
            for ref in sources:
                readers.setdefault(ref, []).append(index)
        for call, sources in zip(self.calls, producers):
            if call.kind == "batch_norm" and len(sources) == 1 and sources[0] in self.produced:
                before = self.calls[self.produced[sources[0]]]
                if before.bn is None and canonizers.merges_batch_norm(
                        before.kind, before.layer, [self.calls[i].kind for i in readers[sources[0]]]):
                    before.bn, call.merged = call, True
            if call.kind == "gate":
                call.gate = self._gate_index(call, sources)
            call.input_nonnegative = all(self._nonnegative(ref) for ref in sources)
            call.nonnegative = canonizers.output_nonnegative(call.layer, call.kind, call.input_nonnegative)
        for call in self.calls:  # a linear layer whose every reader is a ReLU: no relevance on negative outputs
            if call.kind == "linear":
                out = (call.bn or call).output.ref()
                call.rectified = canonizers.rectifies(call.layer) and call.bn is None or canonizers.read_by_rectifiers(
                    [(self.calls[i].layer, self.calls[i].kind) for i in readers.get(out, [])])
        reached, stack, refused = set(), [], []
        for t in outputs:
            ref = self._resolve(t)
            if ref is None:
                self.unseen.append(f"the model's output {getattr(t, 'name', t)}")
            elif ref in self.produced:
                stack.append(self.produced[ref])
        while stack:
            index = stack.pop()
            if index in reached:
                continue
            reached.add(index)
            call = self.calls[index]
            for i, ref in enumerate(producers[index]):
                if call.gate is not None and i == call.gate:
                    continue
                if ref is None:
                    self.unseen.append(call.path)
                elif ref in self.produced:
                    stack.append(self.produced[ref])
        for index in sorted(reached):
            call = self.calls[index]
            if call.kind == "refused" or (call.kind == "gate" and call.gate is None):
                refused.append(f"{call.path} ({call.reason or 'a Multiply of two same-shape tensors'})")
            elif call.kind == "unknown":
                self.unknown.append(call.path)
            elif call.kind == "smooth" or call.reason == "smooth":
                self.smooth.append(call.path)
        if refused:
            raise ValueError(f"{method}: no LRP rule handles {len(refused)} layer(s) of the model "
                             f"{self.name!r} that relevance reaches: {_listed(refused)}. Supported: Dense, "
                             "convolutions (depthwise, separable), BatchNormalization, Add/Average/Subtract, "
                             "pooling, Concatenate, reshaping and padding, rectifiers, squeeze-and-excitation gates.")
        self._warn(method)

    def _warn(self, method):
        name = self.name
        if self.smooth:
            warnings.warn(f"{method}: relevance passes the smooth rectifiers of {len(self.smooth)} layer(s) of "
                          f"the model {name!r} unchanged, as a ReLU's would (an approximation where their "
                          f"inputs are negative): {_listed(self.smooth)}.", stacklevel=4)
        if self.unknown:
            warnings.warn(f"{method}: {len(self.unknown)} layer(s) of the model {name!r} are not Keras layers "
                          f"that an LRP rule knows: relevance crosses them as their gradient: "
                          f"{_listed(self.unknown)}.", stacklevel=4)
        if self.unseen:
            warnings.warn(f"{method}: relevance reaches {len(set(self.unseen))} place(s) of the model {name!r} "
                          "through operations that are not layers (e.g. `tf.nn.relu` or `x + y` in a subclassed "
                          f"`call`), crossed as their gradient: at {_listed(sorted(set(self.unseen)))}.",
                          stacklevel=4)

    def _nonnegative(self, ref):
        """Whether the tensor `ref` is >= 0: an input in a range from 0 up, a ReLU's output, or made of them."""
        if ref is not None and ref in self.inputs_nonnegative:
            return self.inputs_nonnegative[ref]
        return ref in self.produced and self.calls[self.produced[ref]].nonnegative

    def _gate_index(self, call, sources):
        """The input of a two-input Multiply that gates the other: made by a sigmoid, else broadcast; or None."""
        if len(call.inputs) != 2:
            return None
        gates = [ref in self.produced and canonizers.is_gate(self.calls[self.produced[ref]].layer) for ref in sources]
        if gates.count(True) == 1:
            return gates.index(True)
        return _broadcast_gate(call)

    # ------------------------------------------------------------------ backward: the rules

    def _backward(self, call, r):
        dtypes = [x.dtype for x in call.inputs]
        r = tf.cast(r, tf.float32)
        xs = [tf.cast(x, tf.float32) for x in call.inputs]
        if call.kind == "linear":
            result = [self._linear(call, xs[0], r)]
        elif call.kind == "batch_norm":
            result = [r] if call.merged else [_standalone_batch_norm(call, xs[0], r)]
        elif call.kind in ("sum", "avg_pool"):
            result = _proportional(call, xs, r)
        elif call.kind == "gate":
            result = [r if i != call.gate else tf.zeros_like(x) for i, x in enumerate(xs)]
        elif call.kind == "refused":  # only where no relevance reaches it (a gate's branch): else `check` raised
            result = [tf.zeros_like(x) for x in xs]
        else:  # "pass", "smooth"
            result = [r]
        return [tf.cast(value, dtype) for value, dtype in zip(result, dtypes)]

    def _linear(self, call, x, r):
        rule = self.rules[id(call.layer)]
        if hasattr(rule, "for_rectified") and call.rectified:
            rule = rule.for_rectified()
        parts = canonizers.linear_parts(call.layer, call.bn.layer if call.bn is not None else None)
        z = call.bn.raw if call.bn is not None else (call.pre if call.pre is not None else call.raw)
        bounds = self.bounds.get(self._resolve(call.inputs[0])) if rule.needs_bounds else None
        if rule.needs_bounds and bounds is None and getattr(rule, "low", None) is None:
            raise ValueError(f"The z^B rule (ZBox) of the layer {call.path!r} needs the bounds of its input: it "
                             "must read the images (through elementwise preprocessing only) and `lrp` be given "
                             "`value_range`, or the rule its own `ZBox(low, high)`.")
        inputs = [x]
        for part in parts[:-1]:  # a separable convolution's depthwise part
            inputs.append(part.apply(inputs[-1], part.kernel))
        for i in reversed(range(len(parts))):
            part_rule = rule if i == 0 or not rule.needs_bounds else Epsilon(rule.epsilon)
            r = part_rule.relevance(inputs[i], parts[i], r, z=z if i == len(parts) - 1 else None,
                                    bounds=bounds if i == 0 else None,
                                    nonnegative=call.input_nonnegative if i == 0 else False)
        return r


def _relay(inputs, raw, backward):
    """`raw` (the layer's own output, as it is), whose gradient to `inputs` is `backward(upstream)`."""
    @tf.custom_gradient
    def relay(*tensors):
        def grad(upstream):
            return (*backward(upstream), None)

        return tf.identity(tensors[-1]), grad

    return relay(*inputs, tf.stop_gradient(raw))


def _proportional(call, xs, r):
    """The epsilon rule of a parameter-free linear layer: each input's share of the output."""
    fn, args, kwargs = call.relay
    z = tf.cast(call.raw, tf.float32)
    s = shares(r, z, epsilon=STABILIZER)
    originals = call.inputs
    with tf.GradientTape() as tape:
        tape.watch(originals)
        out = fn(*args, **kwargs)
    grads = tape.gradient(out, originals, output_gradients=tf.cast(s, out.dtype))
    return [x * tf.cast(g, tf.float32) if g is not None else tf.zeros_like(x) for x, g in zip(xs, grads)]


def _standalone_batch_norm(call, x, r):
    """A BatchNormalization alone, `y = a x + c`: the epsilon rule, `R_in = a x / (y + eps sign y) R`."""
    scale, _ = canonizers.batch_norm_affine(call.layer)
    z = tf.cast(call.raw, tf.float32)
    return scale * x * shares(r, z, epsilon=STABILIZER)


def _broadcast_gate(call):
    """The input of a Multiply that is broadcast (fewer values than the other), or None."""
    sizes = [_static_size(x) for x in call.inputs]
    if sizes[0] is None or sizes[1] is None or sizes[0] == sizes[1]:
        return None
    return 0 if sizes[0] < sizes[1] else 1


def _static_size(x):
    dims = x.shape[1:]
    return None if any(d is None for d in dims) else int(tf.TensorShape(dims).num_elements())


def _is_container(layer):
    return isinstance(layer, keras.Model)


def _listed(items, limit=8):
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
