"""`METRICS`: every record has its direction, cost and category, runs through `run_metrics` and `compare`,
and the README's table says what the record says."""

import functools
import os

import keras
import numpy as np

from tests.helpers.models import functional
from kerasviz import metrics, registry
from kerasviz.metrics import catalog

CATEGORIES = {"faithfulness", "robustness", "complexity", "localisation", "randomisation", "axiomatic"}


def test_every_record_has_a_direction_a_cost_and_a_category():
    for name, metric in metrics.METRICS.items():
        assert metric.direction == ("higher" if metric.higher_is_better else "lower"), name
        assert isinstance(metric.cost, catalog.MetricCost), name
        assert metric.category in CATEGORIES, name
    assert str(catalog.MetricCost(21)) == "21 forward"
    assert str(catalog.MetricCost(11, 10)) == "11 forward + 10 x the method"
    assert str(catalog.MetricCost()) == "none (on the map)"


def test_the_readme_row_of_each_metric_states_its_cost_and_category():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md"),
              encoding="utf-8") as f:
        rows = {line.split("|")[1].strip().split()[0].strip("`"): [c.strip() for c in line.split("|")]
                for line in f if line.startswith("| `")}
    for name, metric in metrics.METRICS.items():
        assert rows[name][5] == str(metric.cost), (name, rows[name][5])
        assert rows[name][6] == metric.category, name


def test_every_metric_runs_on_a_methods_maps_through_run_metrics():
    """The shape `compare`, the callback and `explain_dataset` rely on: float32 [B] for every metric."""
    keras.backend.clear_session()
    model = functional()
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    masks = np.zeros((3, 16, 16), bool)
    masks[:, 4:10, 5:12] = True
    classes = np.array([0, 1, 2], np.int32)
    failures = {}
    for method_name in ("saliency", "integrated_gradients"):
        record = registry.get(method_name)
        params = {"steps": 4} if method_name == "integrated_gradients" else {}
        method = functools.partial(record.function, **params)
        maps = method(model, images, classes)
        for name in metrics.METRICS:
            value = catalog.run_metrics(model, images, record, method, maps, classes, [name], params=params,
                                        masks=masks, seed=0)[name]
            if value.shape != (3,) or value.dtype != np.float32 or np.isinf(value).any():
                failures[(method_name, name)] = value
    assert not failures, failures
