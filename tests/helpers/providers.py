"""TensorBoard's own data providers and WSGI apps over a logdir, as TensorBoard serves it.

`python_provider` is the Python `MultiplexerDataProvider` (`--load_fast=false`),
`rust_provider` the Rust data server TensorBoard starts by default
(`GrpcDataProvider`); `plugin_client` and `projector_client` serve our plugin
and the projector plugin through `TensorBoardWSGI` to a werkzeug test client.
"""

import os
import subprocess
import tempfile
import time

import grpc
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as multiplexer_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.data import grpc_provider, server_ingester
from tensorboard.plugins import base_plugin
from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
from werkzeug import test as werkzeug_test

from tb_plugin import metadata, plugin


def python_provider(logdir, size_guidance=None):
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance=size_guidance)
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer_provider.MultiplexerDataProvider(multiplexer, logdir)


def rust_provider(logdir, request, *, expected, samples="kerasviz=all"):
    """The Rust data server, started the way TensorBoard starts it, stopped by the test's finalizer.

    Returns once `expected` time series (our records plus scalars) are loaded and stable.
    """
    binary = server_ingester.get_server_binary()
    port_file = os.path.join(tempfile.mkdtemp(prefix="kerasviz_rust_"), "port")
    process = subprocess.Popen(
        [binary.path, f"--logdir={logdir}", "--reload=once", f"--samples-per-plugin={samples}", "--host=127.0.0.1",
         "--port=0", f"--port-file={port_file}", "--die-after-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def stop():
        process.stdin.close()
        process.terminate()
        process.wait(10)

    request.addfinalizer(stop)
    deadline = time.time() + 20
    while not (os.path.exists(port_file) and open(port_file).read().endswith("\n")):
        assert process.poll() is None and time.time() < deadline, "the Rust data server did not start"
        time.sleep(0.05)
    # TensorBoard's own channel options (`server_ingester.py`): the default 4 MiB would refuse large listings.
    channel = grpc.insecure_channel(f"127.0.0.1:{int(open(port_file).read())}",
                                    options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    request.addfinalizer(channel.close)
    provider = grpc_provider.GrpcDataProvider(f"127.0.0.1:{int(open(port_file).read())}", grpc_provider.make_stub(channel))
    previous = None
    while True:  # `--reload=once` loads in the background: wait for every series, then for a stable view
        series = provider.list_blob_sequences(None, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
        scalars = provider.list_scalars(None, experiment_id="", plugin_name="scalars")
        snapshot = sorted((run, tag, ts.max_step) for listing in (series, scalars)
                          for run, tags in listing.items() for tag, ts in tags.items())
        if len(snapshot) == expected and snapshot == previous:
            return provider
        assert time.time() < deadline, "the Rust data server did not load the logdir"
        previous = snapshot
        time.sleep(0.2)


def plugin_client(provider, logdir, sampling_hints=None):
    """A werkzeug client of TensorBoard's WSGI app serving our plugin over `provider`."""
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir, sampling_hints=sampling_hints)
    loaded = plugin.KerasvizLoader().load(context)
    return werkzeug_test.Client(application.TensorBoardWSGI([loaded], data_provider=provider))


def projector_client(logdir):
    """A werkzeug client of TensorBoard's WSGI app serving the real projector plugin over `logdir`."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = multiplexer_provider.MultiplexerDataProvider(multiplexer, logdir)
    projector = ProjectorPlugin(base_plugin.TBContext(data_provider=provider, logdir=logdir))
    return werkzeug_test.Client(application.TensorBoardWSGI([projector], data_provider=provider))
