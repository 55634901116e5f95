"""The `e3d` command: every workflow stage is a subcommand, so each runs and is tested outside Snakemake.

Each subcommand lives in e3d.commands.<module> and defines `add_arguments(parser)` and `run(args) -> int`.
Modules are imported lazily so `e3d synth` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from e3d.errors import E3DError, UserError

# command name -> (module under e3d.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "write the built-in synthetic video dataset"),
    "index": ("index", "index a dataset's videos into index.parquet"),
    "extract": ("extract", "decode videos into a sharded JPEG frame store"),
    "cache": ("cache", "decode a frame store (or the videos) once into a memory-mapped clip cache"),
    "score": ("score", "score an architecture (STEntr / HomoEntr) and print its cost"),
    "search": ("search", "evolutionary architecture search under a budget"),
    "profile": ("profile", "fvcore FLOPs, params and latency of an architecture"),
    "train": ("train", "train a model on a frame store (DDP under torchrun)"),
    "evaluate": ("evaluate", "multi-view evaluation of a trained model"),
    "tables": ("tables", "build a paper table or figure from the stage artifacts"),
    "baselines": ("baselines", "training-free baselines: Figure 4 (forward vs analytic), Figure 3 (correlations)"),
    "darts-search": ("darts_search", "differentiable pseudo-3D cell search with temporal segments"),
}


def build_parser() -> argparse.ArgumentParser:
    from e3d import __version__

    parser = argparse.ArgumentParser(prog="e3d", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"e3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name in _requested_commands():
            _load(module).add_arguments(p)
    return parser


def _requested_commands() -> set[str]:
    # Only the module of the command actually invoked is imported (keeps `e3d --help` fast).
    return {a for a in sys.argv[1:] if a in COMMANDS}


def _load(module: str):
    try:
        return importlib.import_module(f"e3d.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"e3d.commands.{module}":
            raise UserError(f"command module e3d.commands.{module} is not installed in this version") from exc
        raise


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `e3d score ... | head` ends quietly, as Unix tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    try:
        parser = build_parser()
        args = parser.parse_args(sys.argv[1:])
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(_load(args._module).run(args) or 0)
    except E3DError as exc:
        print(f"e3d: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("e3d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
