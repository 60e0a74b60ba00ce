"""A streaming estimator of per-unit quantiles, exact in the upper tail it keeps."""

import numbers

import numpy as np

#: Values kept per unit and level by default: the upper tail is exact while
#: it holds at most `DEFAULT_CAPACITY // 2` values per unit (0.5% of 819,200
#: positions: 16,700 images of 7x7, 260 of 56x56).
DEFAULT_CAPACITY = 8192
_SORTED_VALUES = 2 ** 20  # values sorted at once by `quantile` (about 28 MiB with their order and weights)


class TailQuantiles:
    """Quantiles of many units' values seen in batches, in memory bounded by `capacity`.

    A compactor sketch vectorized over units (in the manner of the KLL and
    relative-error "ReqSketch" sketches: Karnin, Lang & Liberty, 2016;
    Cormode et al., 2021): level `i` holds values of weight `2**i`; when a
    level holds more than `capacity` values per unit, its lowest values
    (all but the highest `capacity // 2`) are sorted and every other one,
    from a seeded random start, moves up a level with twice the weight. The
    total weight stays the number of values seen, and the highest
    `capacity // 2` values ever seen always stay at level 0 with weight 1:
    a quantile whose upper tail `(1 - q) * count` fits in them is exact
    (what Network Dissection's top 0.005 quantile needs), and any other has
    a rank error of a few `count / capacity`. Every unit receives the same
    number of values per update, so the levels are plain `[units, n]`
    arrays. Memory: `units * capacity` float32 values per level, at most
    `log2(count / capacity) + 1` levels.

    Args:
        units: the number of units (one quantile each).
        capacity: values kept per unit and level (an even int >= 2).
        seed: an int seeding the compaction offsets.
    """

    def __init__(self, units, capacity=DEFAULT_CAPACITY, seed=0):
        for name, value, low in (("units", units, 1), ("capacity", capacity, 2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"Received an invalid value for `{name}`: {value!r}. Expected an int >= {low}.")
        if capacity % 2:
            raise ValueError(f"Received an invalid value for `capacity`: {capacity!r}. Expected an even int.")
        self.units, self.capacity = int(units), int(capacity)
        self.levels = []  # float32 [units, n_i], weight 2**i
        self.count = 0
        self.compactions = 0
        self._rng = np.random.default_rng(seed)

    @property
    def exact_top(self):
        """How many of the highest values per unit are known exactly (with weight 1)."""
        return self.count if not self.compactions else self.capacity // 2

    def _from_top(self, q):
        """The inverted-CDF quantile's rank counted from the top: rank `ceil(q * count)` from the bottom."""
        rank = max(int(np.ceil(np.float64(q) * self.count - 1e-9)), 1)
        return self.count - rank + 1

    def is_exact(self, q):
        """Whether `quantile(q)` is exact: its rank from the top lies within the values kept exactly."""
        return self._from_top(q) <= self.exact_top

    def update(self, values):
        """Adds `values` `[units, n]` (row `u`: `n` new values of unit `u`)."""
        values = np.asarray(values, np.float32)
        if values.ndim != 2 or values.shape[0] != self.units:
            raise ValueError(
                f"Received values of shape {values.shape}; expected [{self.units}, n] (one row per unit).")
        if not np.all(np.isfinite(values)):
            raise ValueError("Received values that are not finite (NaN or inf).")
        if not values.shape[1]:
            return
        self.count += values.shape[1]
        self._add(0, values)

    def _add(self, level, values):
        while len(self.levels) <= level:
            self.levels.append(np.empty((self.units, 0), np.float32))
        merged = np.concatenate([self.levels[level], values], axis=1)
        if merged.shape[1] <= self.capacity:
            self.levels[level] = merged
            return
        merged.sort(axis=1)
        keep = self.capacity // 2
        lower = merged.shape[1] - keep
        lower -= lower % 2  # an even number of values is compacted: the weight stays exact
        start = int(self._rng.integers(0, 2))
        promoted = merged[:, start:lower:2]
        self.levels[level] = merged[:, lower:]
        self.compactions += 1
        self._add(level + 1, promoted)

    def merge(self, other):
        """Adds every value `other` has seen (a sketch of the same units and capacity); returns this sketch.

        Level by level, `other`'s values join this sketch's levels of the
        same weight and are compacted as `update` compacts (KLL's merge):
        the total weight is the count of both streams, and the highest
        `capacity // 2` values of the union stay exact at level 0 (each
        sketch kept its own). While neither compacts, the merged sketch
        holds every value: its quantiles equal those of the whole stream,
        in any order of merging.
        """
        if not isinstance(other, TailQuantiles) or (other.units, other.capacity) != (self.units, self.capacity):
            raise ValueError(f"Received a sketch to merge of {getattr(other, 'units', '?')} units and capacity "
                             f"{getattr(other, 'capacity', '?')}; expected {self.units} units and capacity "
                             f"{self.capacity}.")
        self.count += other.count
        self.compactions += other.compactions
        for level, values in enumerate(other.levels):
            if values.shape[1]:
                self._add(level, values)
        return self

    def quantile(self, q):
        """The `q` quantile of each unit's values, float32 `[units]`.

        The "inverted CDF" quantile: the smallest retained value `x` whose
        weight of values `<= x` is at least `q * count` (numpy's
        `np.quantile(values, q, method="inverted_cdf")` when exact): a
        fraction at most `1 - q` of the values lies above it.
        """
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 <= q <= 1:
            raise ValueError(f"Received an invalid value for `q`: {q!r}. Expected a number in [0, 1].")
        if not self.count:
            raise ValueError("No values were added to the sketch.")
        weights = np.concatenate([np.full(lv.shape[1], 2 ** i, np.int64) for i, lv in enumerate(self.levels)])
        rank = self._from_top(q)
        result = np.empty(self.units, np.float32)
        step = max(1, _SORTED_VALUES // len(weights))  # units sorted at a time: the sort's memory stays bounded
        for a in range(0, self.units, step):
            values = np.concatenate([level[a:a + step] for level in self.levels], axis=1)
            order = np.argsort(-values, axis=1, kind="stable")
            ordered = np.take_along_axis(values, order, axis=1)
            above = np.cumsum(weights[order], axis=1)  # the weight of values >= each, counted from the top
            result[a:a + step] = ordered[np.arange(len(values)), np.argmax(above >= rank, axis=1)]
        return result

    def state(self):
        """`(arrays, info)`: what `from_state` needs to go on exactly as this sketch would (its RNG included).

        `arrays` is `{"level<i>": float32 [units, n_i]}`; `info` is JSON (sizes, counts, the RNG's state).
        """
        arrays = {f"level{i}": level for i, level in enumerate(self.levels)}
        info = {"units": self.units, "capacity": self.capacity, "count": self.count,
                "compactions": self.compactions, "levels": len(self.levels), "rng": self._rng.bit_generator.state}
        return arrays, info

    @classmethod
    def from_state(cls, arrays, info):
        """The sketch saved by `state`."""
        sketch = cls(info["units"], info["capacity"])
        sketch.levels = [np.array(arrays[f"level{i}"], np.float32) for i in range(info["levels"])]
        sketch.count, sketch.compactions = int(info["count"]), int(info["compactions"])
        sketch._rng.bit_generator.state = info["rng"]
        return sketch

    def nbytes(self):
        """The bytes the sketch holds now."""
        return sum(level.nbytes for level in self.levels)
