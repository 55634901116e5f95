"""`e3d train`: train a model from an architecture reference on a frame store (or the raw videos, --source video, or
a decoded-clip cache, --source cache).

Run it under torchrun for several processes (`torchrun --standalone --nproc_per_node=N -m e3d.cli train ...`);
plain `e3d train` is one process. Re-running with the same --state-dir resumes where the last run stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

from e3d.errors import UserError


def add_arguments(p) -> None:
    from e3d.commands import _source

    _source.add_arguments(p)
    p.add_argument("--arch", required=True,
                   help="architecture reference: builtin:NAME, spec:FILE.json, search:ARCH.json, or a bare name/path")
    p.add_argument("--out", required=True, help="output directory: model.pt, metrics.parquet, arch.json")
    p.add_argument("--state-dir", required=True, help="resumable state (keep it outside the workflow's outputs)")
    p.add_argument("--settings", default="{}", help="training settings as JSON, or @FILE with JSON/YAML")
    p.add_argument("--split", default="train")
    p.add_argument("--se-ratio", type=float, default=None, help="override the spec's SE ratio (Appendix F)")
    p.add_argument("--act", default=None, help="override the spec's activation, e.g. relu (Appendix F)")
    p.add_argument("--dropout", type=float, default=None,
                   help="override the head's dropout (spec default: E3D 0.2 as the authors' code, X3D 0.5)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="initial weights for fine-tuning: a pytorchvideo or PySlowFast X3D checkpoint, or an e3d "
                        "model.pt (a head of another class count is re-initialised)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"],
                   help="GPU autocast precision (auto = bf16); CPU training is always fp32")


def read_settings(text: str) -> dict:
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            raw = path.read_text()
        except OSError as exc:
            raise UserError(f"{path}: cannot read settings ({exc.strerror})") from exc
        import yaml

        data = yaml.safe_load(raw)
        where = str(path)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"--settings: not valid JSON ({exc})") from exc
        where = "--settings"
    if not isinstance(data, dict):
        raise UserError(f"{where}: training settings must be a mapping")
    return data


def with_init(record: dict, path: str) -> dict:
    """The record with the init checkpoint it starts from (file and content digest): part of the run digest and
    of model.pt/arch.json, so a run from other weights neither resumes this one's state nor passes for it."""
    from e3d.models.checkpoints import init_file_digest

    return {**record, "init": {"file": str(path), "sha256": init_file_digest(path)}}


def run(args) -> int:
    from e3d.commands import _source
    from e3d.data.settings import needed_short_side
    from e3d.train.loop import train
    from e3d.train.model_source import ModelOptions, resolve
    from e3d.train.settings import TrainSettings

    raw = read_settings(args.settings)
    settings = TrainSettings.from_dict(raw)
    record = resolve(args.arch, ModelOptions(frames=settings.frames, resolution=settings.crop,
                                             se_ratio=args.se_ratio, act=args.act, dropout=args.dropout,
                                             sample_rate=settings.sample_rate))
    if args.init is not None:
        record = with_init(record, args.init)
    # a clip cache must hold the largest short side this schedule resizes to
    store = _source.open_from_args(args, short_side=needed_short_side(settings.crop, settings.short_side_scale),
                                   why="training (crop x short_side_scale max)")
    config = {"settings": raw, "arch": args.arch, "se_ratio": args.se_ratio, "act": args.act, "dropout": args.dropout,
              "init": args.init}
    result = train(store, record, settings, args.out, args.state_dir, split=args.split, config=config,
                   precision=args.precision)
    if result.metrics:
        last = result.metrics[-1]
        print(json.dumps({"model": str(result.model_path), "epochs": len(result.metrics),
                          "final_loss": last["loss"], "final_train_accuracy": last["accuracy"]}))
    return 0
