"""`kerasviz.datasets.pipeline.ahead`: read in a background thread, in order, bounded, errors where they happened."""

import threading
import time

import pytest

from kerasviz.datasets import pipeline


def _reader_threads():
    return [t for t in threading.enumerate() if t.name == "kerasviz-dataset-reader"]


def test_yields_every_item_in_order():
    assert list(pipeline.ahead(iter(range(100)), depth=3)) == list(range(100))
    assert list(pipeline.ahead([])) == []
    assert not _reader_threads()


def test_reads_at_most_depth_items_ahead():
    read = []

    def items():
        for k in range(20):
            read.append(k)
            yield k

    iterator = pipeline.ahead(items(), depth=2)
    assert next(iterator) == 0
    time.sleep(0.3)  # the reader fills the queue and waits
    # consumed 1, 2 waiting in the queue, 1 read and waiting to be put: never more
    assert len(read) <= 1 + 2 + 1
    assert list(iterator) == list(range(1, 20))


def test_an_error_while_reading_is_raised_at_its_item():
    def items():
        yield 0
        yield 1
        raise ValueError("item 2 is bad")

    got = []
    with pytest.raises(ValueError, match="item 2 is bad"):
        for item in pipeline.ahead(items()):
            got.append(item)
    assert got == [0, 1]
    assert not _reader_threads()


def test_leaving_early_stops_the_reader():
    def endless():
        k = 0
        while True:
            yield k
            k += 1

    iterator = pipeline.ahead(endless())
    assert [next(iterator) for _ in range(5)] == [0, 1, 2, 3, 4]
    iterator.close()
    assert not _reader_threads()


@pytest.mark.parametrize("depth", [0, -1, 1.5, True, "2"])
def test_bad_depth_raises_naming_it(depth):
    with pytest.raises(ValueError, match="depth"):
        next(pipeline.ahead(iter([1]), depth=depth))
