"""Host work of `explain_dataset` overlapped with the model: the next shard is read while this one is computed.

`ahead(items, depth)` iterates `items` in a background thread, at most
`depth` items ahead of the consumer (a bounded queue: memory stays at
`depth + 1` shards read). Reading a shard (a `tf.data` stream batched and
copied out, the images checked, their digest) and writing one (display
conversion, float16 encoding, files fsynced) release the GIL for most of
their time, so both run while the main thread waits on the model.
"""

import queue
import threading

_DONE = object()


class _Failed:
    def __init__(self, error):
        self.error = error


def ahead(items, depth=1):
    """Yields what `items` yields, in order, read in a background thread up to `depth` items ahead.

    An exception raised while reading is raised here, at the item where it
    happened. Leaving the loop early (a `break`, an exception in the
    consumer) stops the reader at its next item.

    Args:
        items: an iterable.
        depth: how many items may wait, read but not yet consumed (int >= 1).

    Raises:
        ValueError: `depth` is not a positive int.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"Received an invalid value for `depth`: {depth!r}. Expected a positive int.")
    waiting = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Failed(error))
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="kerasviz-dataset-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = waiting.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join()
