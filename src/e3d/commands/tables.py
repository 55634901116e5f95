"""`e3d tables NAME --out PATH --input KEY=PATH ... --params JSON`: build one paper table or figure from stage
artifacts (our rows beside the paper's). The workflow's tables rules call this; see e3d.tables.build."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    from e3d.tables.build import BUILDERS

    p.add_argument("name", choices=sorted(BUILDERS), help="which table or figure")
    p.add_argument("--out", required=True, help="the table's .csv (Parquet, HTML, meta beside) or the figure's .png")
    p.add_argument("--input", action="append", default=[], metavar="KEY=PATH",
                   help="an input artifact under a name the builder reads (evals, archs, benchmarks, traces, "
                        "variants, profiles); repeat for several")
    p.add_argument("--params", default="{}", help="JSON object: the settings the table's caption quotes")


def run(args: argparse.Namespace) -> int:
    from e3d.errors import UserError
    from e3d.tables.build import build

    inputs: dict[str, list[str]] = {}
    for item in args.input:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise UserError(f"--input {item!r}: expected KEY=PATH")
        inputs.setdefault(key, []).append(path)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise UserError(f"--params is not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise UserError("--params must be a JSON object")
    build(args.name, inputs, params, args.out)
    print(json.dumps({"built": args.name, "out": args.out}))
    return 0
