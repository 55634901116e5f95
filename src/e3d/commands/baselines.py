"""`e3d baselines`: the training-free baseline studies.

  fig4            forward-inference entropy vs the analytic score on the three-layer network (Figure 4)
  fig3-sample     sample N architectures between FLOPs bounds and score them (Figure 3, step 1)
  fig3-correlate  join the trained models' top-1 and write Kendall/Spearman with bootstrap intervals (step 3)
  x3d-scaled      X3D-S contracted to a FLOPs budget at a given input by X3D's own expansion axes (Table 7)
"""

from __future__ import annotations

import json

from e3d.arch.baselines import X3D_EXPANSIONS
from e3d.baselines.correlation import FIG3_NAMES
from e3d.baselines.settings import SAMPLE_KEYS, CorrelationSettings, Fig4Settings, SampleConfig
from e3d.errors import UserError
from e3d.settingspec import add_flags, key_names

FIG4_KEYS = tuple(key_names(Fig4Settings))


def add_arguments(p) -> None:
    # each study's settings flags: type, default, choices and help from e3d.baselines.settings, as the config's
    # baselines section (lists as comma-separated text)
    sub = p.add_subparsers(dest="study", metavar="STUDY", required=True)
    f4 = sub.add_parser("fig4", help="forward vs analytic entropy (Figure 4)")
    f4.add_argument("--out", required=True, help="output directory")
    add_flags(f4, Fig4Settings, FIG4_KEYS)
    f4.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("fig3-sample", help="sample and score architectures (Figure 3)")
    s.add_argument("--out", required=True, help="output directory: models.parquet, specs/<model>.json")
    add_flags(s, SampleConfig, SAMPLE_KEYS)
    s.add_argument("--seed", type=int, default=0)
    add_flags(s, CorrelationSettings, ["scores"])
    s.add_argument("--name-format", default=FIG3_NAMES,
                   help="the models' names, a Python format of {index} (default %(default)s)")

    x = sub.add_parser("x3d-scaled", help="X3D-S contracted to a FLOPs budget by X3D's expansion axes (Table 7)")
    x.add_argument("--budget-gflops", type=float, required=True)
    x.add_argument("--resolution", type=int, required=True)
    x.add_argument("--frames", type=int, required=True)
    x.add_argument("--expand", choices=X3D_EXPANSIONS, default="depth",
                   help="the axis contracted: width (gamma_w), depth (gamma_d) or both by one factor")
    x.add_argument("--name", default="x3d-scaled")
    x.add_argument("--out", required=True, help="the spec JSON written")

    c = sub.add_parser("fig3-correlate", help="correlate metrics with accuracy (Figure 3)")
    c.add_argument("--models", required=True, help="models.parquet from fig3-sample")
    c.add_argument("--accuracy", nargs="+", required=True, metavar="MODEL=METRICS_JSON")
    c.add_argument("--out", required=True)
    c.add_argument("--target", default="top1")
    c.add_argument("--metrics", default="stentr,homoentr,gflops,params_m")
    add_flags(c, CorrelationSettings, ["n_boot", "confidence"])
    c.add_argument("--figure", default=None,
                   help="also write Figure 3 itself here (PNG; the correlations as CSV and meta beside it)")
    c.add_argument("--seed", type=int, default=0)


def _csv(text: str, what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise UserError(f"{what}: empty list")
    return items


def run(args) -> int:
    if args.study == "fig4":
        from e3d.baselines.fig4 import run_fig4, write_fig4

        try:
            channels = [int(c) for c in _csv(args.channels, "--channels")]
        except ValueError as exc:
            raise UserError(f"--channels {args.channels!r}: expected integers") from exc
        Fig4Settings(**{**{key: getattr(args, key) for key in FIG4_KEYS}, "channels": tuple(channels)})  # bounds
        config = {"channels": channels, "repeats": args.repeats, "batch_size": args.batch_size, "seed": args.seed,
                  "device": args.device, "threads": args.threads}
        result = run_fig4(channels, args.repeats, args.seed, args.batch_size, args.device,
                          args.threads or None)
        paths = write_fig4(result, args.out, config)
        print(result.summary.merge(result.timing, on=["channels", "method"]).to_string(index=False))
        print(json.dumps({k: str(v) for k, v in paths.items()}))
        return 0
    if args.study == "fig3-sample":
        from e3d.baselines.correlation import sample_architectures, score_architectures
        from e3d.baselines.study_io import write_models
        from e3d.score.registry import get

        scores = _csv(args.scores, "--scores")
        for name in scores:
            get(name)
        CorrelationSettings(scores=tuple(scores))  # the config's bounds
        cfg = SampleConfig(**{key: getattr(args, key) for key in SAMPLE_KEYS}, seed=args.seed)
        scored = score_architectures(sample_architectures(cfg, args.name_format), scores=scores)
        config = {**cfg.__dict__, "scores": scores, "name_format": args.name_format}
        paths = write_models(scored, args.out, config)
        print(scored.drop(columns=["spec_json"]).to_string(index=False))
        print(json.dumps({k: str(v) for k, v in paths.items()}))
        return 0
    if args.study == "x3d-scaled":
        from e3d.baselines.study_io import write_x3d_scaled

        print(json.dumps(write_x3d_scaled(args.budget_gflops, args.resolution, args.frames, args.expand, args.name,
                                          args.out)))
        return 0
    from e3d.baselines.correlation import correlate, join_accuracy
    from e3d.baselines.study_io import read_accuracy, read_models, write_correlations

    CorrelationSettings(n_boot=args.n_boot, confidence=args.confidence)  # the config's bounds
    scored = read_models(args.models)
    data = join_accuracy(scored, read_accuracy(args.accuracy, args.target), args.target)
    corr = correlate(data, args.target, _csv(args.metrics, "--metrics"), n_boot=args.n_boot,
                     confidence=args.confidence, seed=args.seed)
    config = {"models": str(args.models), "target": args.target, "n_boot": args.n_boot, "seed": args.seed,
              "confidence": args.confidence, "accuracy": sorted(args.accuracy)}
    paths = write_correlations(data.drop(columns=["spec_json"]), corr, args.out, config, args.target,
                               figure=args.figure)
    print(corr.to_string(index=False))
    print(json.dumps({k: str(v) for k, v in paths.items()}))
    return 0
