"""The command line: ``python -m core COMMAND`` (also installed as ``shiftlab``).

    train      train a method (progress on stderr; --json: one JSON object on the last stdout line)
    eval       a checkpoint or zoo model on a domain
    estimate   a model's accuracy on a target estimated without labels
    adapt      test-time adaptation of a model to a domain's unlabelled pictures
    export     a checkpoint as ONNX
    tune       search a method's settings with Optuna, scored by a label-free validator
    recommend  train the candidate methods and recommend one, without target labels
    zoo        list / table / rebuild the shipped models
    bench      throughput benchmark
    domains    what can be loaded
    methods    what can be trained, with hyperparameters

Every command checks its arguments (ranges, names, the output folder) before any work, and every
failure is one line on stderr starting with ``error:`` and a non-zero exit code — never a traceback
(set ``SHIFTLAB_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Command modules in the order ``--help`` lists them; each has ``add_parser(subparsers)``.
COMMAND_MODULES = ("train", "evaluate", "estimate", "adapt", "export", "translate", "fixtures", "tune", "recommend", "zoo",
                   "bench", "info")


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line (and exit code 2), usage left to ``--help``."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="ShiftLab: domain adaptation you can see")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, LookupError) as err:
        # DomainError, BadCheckpoint, ZooError, unknown names, TrainingError, a bad --out …
        if os.environ.get("SHIFTLAB_DEBUG"):
            raise
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - a bug: still one line, with its type to report it
        if os.environ.get("SHIFTLAB_DEBUG"):
            raise
        print(f"error: internal error ({type(err).__name__}: {_one_line(err)}); "
              "rerun with SHIFTLAB_DEBUG=1 for details", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 1000 else text[:997] + "..."
