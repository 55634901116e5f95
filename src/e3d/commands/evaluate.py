"""`e3d evaluate`: multi-view evaluation of a trained model.pt on a frame store split."""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    from e3d.commands import _source
    from e3d.evaluate.protocol import EVAL_FLAG_KEYS, PROTOCOL_KEYS, EvalProtocol, EvalSettings
    from e3d.settingspec import add_flags

    p.add_argument("--model", required=True, help="model.pt written by `e3d train`")
    _source.add_arguments(p)
    # the protocol's and the section's flags: type, default, choices and help as the config's `evaluate` section
    add_flags(p, EvalProtocol, PROTOCOL_KEYS)
    add_flags(p, EvalSettings, EVAL_FLAG_KEYS)
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the training clip length)")
    p.add_argument("--sample-rate", type=int, default=None, help="frame stride (default: the training one)")
    p.add_argument("--single-frame", action="store_true",
                   help="the repeated-frame control: each clip is one frame repeated (should be near chance "
                        "when classes need motion)")
    p.add_argument("--workers", type=int, default=-1, help="DataLoader workers (-1: sized to the job's CPUs)")
    p.add_argument("--scores", required=True, help="per-video scores Parquet to write")
    p.add_argument("--metrics", required=True, help="metrics JSON to write")


def run(args) -> int:
    import torch

    from e3d.artifacts import Provenance, write_json, write_parquet
    from e3d.commands import _source
    from e3d.evaluate.load import load_trained
    from e3d.evaluate.protocol import EVAL_FLAG_KEYS, PROTOCOL_KEYS, EvalProtocol, EvalSettings
    from e3d.evaluate.run import evaluate, gflops_per_view, summary
    from e3d.evaluate.views import ViewPlan
    from e3d.provenance import STAGE_MODULES
    from e3d.train.dist import job_cpus
    from e3d.train.model_source import run_sampler

    # the config's bounds (a test crop of at least MIN_CROP, ...), before the model is loaded
    EvalProtocol(**{key: getattr(args, key) for key in PROTOCOL_KEYS})
    EvalSettings(**{key: getattr(args, key) for key in EVAL_FLAG_KEYS})
    model, ckpt = load_trained(args.model)
    s = ckpt.get("settings", {})
    plan = ViewPlan(
        mode=args.views, clips=args.clips,
        crop=args.crop or int(s.get("crop", 56)), frames=args.frames or int(s.get("frames", 8)),
        sample_rate=args.sample_rate or int(s.get("sample_rate", 1)), single_frame=args.single_frame,
        spacing=args.spacing,
    )
    store = _source.open_from_args(args, short_side=plan.crop, why=f"the test crop ({plan.crop})")
    if int(store.num_classes) != int(ckpt["num_classes"]):
        from e3d.errors import UserError

        raise UserError(f"{args.model}: trained for {ckpt['num_classes']} classes, but {_source.describe(args)} has "
                        f"{store.num_classes}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cpus = job_cpus()
    workers = args.workers if args.workers >= 0 else min(8, cpus - 1 if device == "cuda" else cpus // 4)
    if device == "cpu":
        torch.set_num_threads(max(1, cpus - workers))
    gflops = gflops_per_view(model, plan.frames, plan.crop)
    result = evaluate(model, store, plan, split=args.split, batch_size=args.batch_size,
                      mean=tuple(s.get("mean", (0.45,) * 3)), std=tuple(s.get("std", (0.225,) * 3)),
                      device=device, num_workers=max(0, workers), class_names=ckpt.get("class_names"),
                      sampler=run_sampler(ckpt["record"], str(s.get("sampling", "clip")), plan.frames))
    extras = dict(result.extras)
    # Models whose cost depends on the clip (SGS) report their measured mean per view instead.
    gflops = float(extras.pop("gflops_per_view", gflops))
    params = sum(p.numel() for p in model.parameters())
    config = {"model_digest": ckpt.get("run_digest"), "plan": plan.__dict__, "split": args.split}
    modules = STAGE_MODULES.get("evaluate", ())
    write_parquet(args.scores, result.scores, Provenance.make("eval_scores", 1, config, modules))
    doc = summary(result, plan, gflops, int(ckpt["num_classes"]),
                  {**extras, "split": args.split, "params": params, "model": str(args.model),
                   "arch": ckpt["record"].get("source", ckpt["record"].get("kind"))})
    write_json(args.metrics, doc, Provenance.make("eval_metrics", 1, config, modules))
    print(json.dumps({k: doc[k] for k in ("top1", "top5", "videos", "gflops", "single_frame")}))
    return 0
