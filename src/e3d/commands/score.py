"""`e3d score SPEC`: STEntr / HomoEntr of an architecture plus its analytic cost, as one JSON object."""

from __future__ import annotations

import argparse
import json

from e3d.score.entropy import ON_PARALLEL, SCORES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="builtin:NAME, spec:FILE, search:ARCH.json or variant:S-2 (as `e3d train --arch`), "
                   "or a bare built-in name (e.g. e3d-s), JSON spec file or authors'-format file")
    p.add_argument("--score", choices=SCORES, default="stentr")
    p.add_argument("--resolution", type=int, default=None, help="input size (default: the model's own)")
    p.add_argument("--frames", type=int, default=None, help="clip length (default: the model's own)")
    p.add_argument("--alpha-resolution", type=int, default=None,
                   help="resolution used for alpha only (160 reproduces the authors' M/L quirk); default --resolution")
    p.add_argument("--on-parallel", choices=ON_PARALLEL, default="invalid",
                   help="a kernel parallel to its feature map: report the score as invalid (default) or clamp 1-cos")
    p.add_argument("--per-layer", action="store_true", help="add every additive term of the score")


def run(args: argparse.Namespace) -> int:
    from e3d.arch.cost import cost
    from e3d.score.entropy import score_spec
    from e3d.arch.resolve import resolve_spec

    spec = resolve_spec(args.spec)
    res = spec.resolution if args.resolution is None else args.resolution
    frames = spec.frames if args.frames is None else args.frames
    result = score_spec(spec, args.score, res, frames, args.alpha_resolution, args.on_parallel)
    c = cost(spec, res, frames)
    out = {
        "name": spec.name,
        "score": result.score,
        "gflops": c.gflops,
        "params": c.params,
        "layers": c.layers,
        "resolution": res,
        "frames": frames,
        "flops_convention": c.convention,
        **result.to_dict(per_layer=args.per_layer),
    }
    print(json.dumps(out, indent=None if not args.per_layer else 1))
    return 0
