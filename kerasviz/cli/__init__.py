"""The `kerasviz` command: the demo, and each family from the shell.

    kerasviz demo --logdir logs/demo
    kerasviz attribute model.keras cat.jpg dog.jpg --methods saliency grad_cam --out maps/

One module per subcommand, each with `add_parser(commands, parents)` and
`run(args)`. Building the parser imports no TensorFlow (`kerasviz --help` is
instant); TensorFlow is imported, without its start-up log lines unless
`--verbose`, only when a command runs. A user's mistake is one line on stderr
naming the argument or file, exit code 2 (`--debug` shows the traceback).
"""

import argparse
import sys

from kerasviz.cli import (
    activations, attribute, common, demo, evaluate, explain, features, inside, microscope, synthesize,
)

_COMMANDS = (demo, attribute, activations, synthesize, features, evaluate, explain, microscope, inside)


class _Parser(argparse.ArgumentParser):
    """argparse's errors as one line: what was wrong, and where the options are listed."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="kerasviz",
        description="See inside Keras ConvNets: attribution maps, filters, embeddings and more, "
        "written for TensorBoard.",
    )
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log lines (hidden by default)")
    shared.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands, [shared])
    return parser


def main(argv=None):
    """Runs the `kerasviz` command; returns its exit code (2: a mistake in the arguments or files)."""
    args = build_parser().parse_args(argv)
    prog = f"kerasviz {args.command}"
    if not args.verbose:
        from kerasviz.cli import tf_logs

        tf_logs.import_quietly()
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (common.UsageError, ValueError, TypeError) as error:
        if args.debug:
            raise
        hint = "" if isinstance(error, common.UsageError) else " (--debug shows the traceback)"
        message = " ".join(str(error).split())
        print(f"{prog}: {message}{hint}", file=sys.stderr)
        return 2
    return 0
