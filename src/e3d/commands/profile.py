"""e3d profile SPEC: fvcore and analytic FLOPs/params of an architecture, optionally latency and throughput."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_CLASSES = 400


def recorded_classes(spec: str) -> int | None:
    """The head size a trained model's arch.json (a model record, written by `e3d train`) records, so that
    profiling a trained model counts its own head; None for any other architecture argument."""
    from e3d.artifacts import ArtifactError, read_json
    from e3d.train.loop import MODEL_RECORD_SCHEMA

    if not Path(spec).is_file():
        return None
    try:
        return int(read_json(spec, schema=MODEL_RECORD_SCHEMA)["num_classes"])
    except ArtifactError:
        return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="builtin:NAME, spec:FILE, search:ARCH.json or variant:S-2 (as `e3d train --arch`), "
                   "or a bare built-in name (e.g. e3d-s), JSON spec file or authors'-format file")
    p.add_argument("--resolution", type=int, default=None, help="input crop (default: the model's own)")
    p.add_argument("--frames", type=int, default=None, help="clip length (default: the model's own)")
    p.add_argument("--classes", type=int, default=None,
                   help="number of classes of the head (default: a trained model's own, read from its arch.json "
                        "model record; else 400)")
    p.add_argument("--se-ratio", type=float, default=None, help="add SE with this ratio (paper Appendix F)")
    p.add_argument("--act", default=None, help="replace the activation (relu, swish, hswish)")
    p.add_argument("--latency", action="store_true", help="measure latency and throughput (paper Table 13)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch", type=int, default=16, help="latency batch size (default 16, the paper's)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--single-clip-repeats", type=int, default=0,
                   help="with --latency, also time one clip alone (batch 1), the latency of one video, with this "
                        "many timed passes, before the batch (default 0: not timed)")
    p.add_argument("--single-clip-warmup", type=int, default=1, help="warm-up passes of the single-clip timing")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for the measurement (default: torch's own, one per core)")
    p.add_argument("--out", default=None, help="also write the result as a JSON artifact")


def run(args: argparse.Namespace) -> int:
    from e3d.arch.resolve import resolve_spec
    from e3d.errors import UserError
    from e3d.models.profile import PROFILE_SCHEMA_VERSION, profile_model

    for name in ("resolution", "frames", "classes", "batch", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name}: expected a positive integer, got {value}")
    for name in ("warmup", "single_clip_warmup", "single_clip_repeats"):
        if getattr(args, name) < 0:
            raise UserError(f"--{name.replace('_', '-')}: expected >= 0, got {getattr(args, name)}")
    if args.single_clip_repeats and not args.latency:
        raise UserError("--single-clip-repeats: times one clip beside the batch, so it needs --latency")
    spec = resolve_spec(args.spec)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.classes is None:
        args.classes = recorded_classes(args.spec) or DEFAULT_CLASSES
    result = profile_model(spec, args.resolution, args.frames, args.classes, latency=args.latency,
                           device=args.device, batch=args.batch, warmup=args.warmup, repeats=args.repeats,
                           se_ratio=args.se_ratio, act=args.act, single_clip_warmup=args.single_clip_warmup,
                           single_clip_repeats=args.single_clip_repeats)
    if args.out:
        from e3d.artifacts import Provenance, write_json

        config = {k: getattr(args, k) for k in ("spec", "resolution", "frames", "classes", "se_ratio", "act",
                                               "latency", "device", "batch", "warmup", "repeats")}
        # recorded only when used, so that the artifacts written without them keep their config digest
        if args.single_clip_repeats:
            config.update(single_clip_warmup=args.single_clip_warmup, single_clip_repeats=args.single_clip_repeats)
        if args.threads is not None:
            config["threads"] = args.threads
        write_json(args.out, result, Provenance.make("profile", PROFILE_SCHEMA_VERSION, config, ("arch", "models")))
    printed = {k: v for k, v in result.items() if k != "spec"}
    print(json.dumps(printed, indent=2, sort_keys=True))
    return 0
