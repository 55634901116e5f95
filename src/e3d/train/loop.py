"""The training loop: one function, run by every process that torchrun starts (or by plain python).

Outputs (rank 0, in `out_dir`): model.pt (weights + model record + class names, for evaluation),
metrics.parquet (one row per epoch), arch.json (the model record) and skipped_videos.json (videos that could not
be read, with their reasons; their clips were replaced, see e3d.train.failures). Resumable state lives in
`state_dir` (last.pt), written atomically every `checkpoint_every` steps and at every epoch end.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from e3d.artifacts import Provenance, write_json, write_parquet
from e3d.errors import E3DError
from e3d.progress import Progress
from e3d.provenance import config_digest
from e3d.train import checkpoint, dist, model_source
from e3d.train.clips import ClipSource, EpochSampler, TrainClips, split_rows
from e3d.train.failures import SKIPPED_FILE, SKIPPED_SCHEMA, FailureLog
from e3d.train.optim import make_optimizer, make_scheduler
from e3d.train.settings import TrainSettings

METRICS_SCHEMA = "train_metrics"
MODEL_RECORD_SCHEMA = "model_record"
STAGE = "train"


class TrainingDiverged(E3DError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    model_path: Path
    metrics_path: Path
    metrics: list[dict[str, Any]]
    resumed_from_step: int


def _stage_modules() -> tuple[str, ...]:
    from e3d.provenance import STAGE_MODULES

    return STAGE_MODULES.get(STAGE, ())


def auto_workers(ctx: dist.Context, requested: int) -> tuple[int, int]:
    """(DataLoader workers, torch threads) per process from the job's CPUs."""
    per_proc = max(1, dist.job_cpus() // max(1, ctx.local_world))
    if requested >= 0:
        workers = requested
    elif ctx.cuda:
        workers = max(0, min(8, per_proc - 1))  # the GPU computes; CPUs decode and augment
    else:
        workers = per_proc // 4  # on the CPU the model needs the cores more than the loader
    return workers, max(1, per_proc - (workers if not ctx.cuda else 0))


def run_digest(settings: TrainSettings, record: dict[str, Any], num_classes: int, world: int, n_train: int,
               source_key: Any = None) -> str:
    """A run's identity (a state is resumed only by the same run). `source_key`: what makes a clip source's pixels
    differ from the frame store's (a clip cache's short side), None for the store and the video source."""
    extra = {"source": source_key} if source_key is not None else {}
    return config_digest({"settings": settings.to_dict(), "record": record, "classes": num_classes,
                          "world": world, "n_train": n_train, **extra})


def train(
    source: ClipSource,
    record: dict[str, Any],
    settings: TrainSettings,
    out_dir: str | Path,
    state_dir: str | Path,
    *,
    split: str = "train",
    config: Any = None,
    precision: str = "auto",
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    ctx = dist.init()
    say = log or (lambda m: dist.log_main(ctx, m))
    try:
        return _train(ctx, say, source, record, settings, Path(out_dir), Path(state_dir), split, config, precision)
    finally:
        dist.shutdown()


def _train(ctx, say, source, record, s: TrainSettings, out_dir: Path, state_dir: Path, split, config, precision):
    if s.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = ctx.cuda and not s.deterministic
    workers, threads = auto_workers(ctx, s.num_workers)
    if not ctx.cuda:
        torch.set_num_threads(threads)

    rows = split_rows(source, split)
    num_classes = int(source.num_classes)
    steps_per_epoch = EpochSampler.steps_per_epoch(len(rows), s.batch_size, ctx.world)
    if steps_per_epoch < 1:
        raise E3DError(f"split {split!r} has {len(rows)} videos, fewer than one global batch "
                       f"({s.batch_size} x {ctx.world} processes)")
    total_steps = steps_per_epoch * s.epochs
    warmup_steps = round(s.warmup_epochs * steps_per_epoch)

    torch.manual_seed(s.seed)  # identical initial weights on every rank (DDP also broadcasts rank 0's)
    model = model_source.build(record, num_classes)
    if record.get("init"):
        # every rank loads the same file, before SyncBN, the device move and DDP; the outcome (layout, head kept
        # or re-initialised) joins the record that model.pt and arch.json keep
        record = {**record, "init": {**record["init"], **_load_init(model, record["init"], say).summary()}}
    if ctx.cuda:
        if ctx.world > 1:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = model.to(ctx.device, memory_format=torch.channels_last_3d)
    opt = make_optimizer(model, s)
    sched = make_scheduler(opt, total_steps, warmup_steps)
    dtype = _autocast_dtype(ctx, precision)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype is torch.float16)

    digest = run_digest(s, record, num_classes, ctx.world, len(rows), getattr(source, "source_key", None))
    state_path = state_dir / checkpoint.LAST
    epoch, step_in_epoch, global_step, history, acc = 0, 0, 0, [], _fresh_acc()
    if state_path.exists():
        st = checkpoint.load(state_path)
        if st.get("run_digest") != digest:
            say(f"ignoring {state_path}: it belongs to a run with other settings, model or data")
        else:
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
            scaler.load_state_dict(st["scaler"])
            checkpoint.set_rng_state(st["rng"][ctx.rank] if ctx.rank < len(st["rng"]) else st["rng"][0])
            epoch, step_in_epoch, global_step = st["epoch"], st["step_in_epoch"], st["global_step"]
            # Per rank: each rank counts its own shard of the epoch (checkpoints before this held rank 0's only).
            accs = st["epoch_acc"]
            history, acc = list(st["history"]), dict(accs[ctx.rank] if isinstance(accs, list) else accs)
            say(f"resuming from {state_path}: epoch {epoch}, step {step_in_epoch}/{steps_per_epoch}")
    resumed_from = global_step
    failures = FailureLog(state_dir / "skipped")
    if ctx.is_main and global_step == 0:
        failures.clear()  # a fresh run: failures of an earlier one are not this run's
    dist.barrier()

    net = model
    if ctx.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device] if ctx.cuda else None)
    dataset = TrainClips(source, rows, s, model_source.run_sampler(record, s.sampling, s.frames), failures=failures)
    say(f"training {_label(record)}: {len(rows)} clips, {steps_per_epoch} steps/epoch x "
        f"{s.epochs} epochs, {ctx.world} process(es) on {ctx.device.type}, {workers} loader worker(s), "
        f"precision {dtype or 'fp32'}")

    def save_state() -> None:
        ranks = _gather_ranks(ctx, {"rng": checkpoint.rng_state(), "epoch_acc": acc})
        if ctx.is_main:
            checkpoint.save(state_path, {
                "run_digest": digest, "model": _cpu_state(model), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
                "rng": [r["rng"] for r in ranks], "epoch_acc": [r["epoch_acc"] for r in ranks],
                "epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step, "history": history,
            })
        dist.barrier()

    bar = Progress(total=total_steps, desc=f"train {_label(record)}") if ctx.is_main else None
    if bar is not None:
        bar.done = global_step
    while epoch < s.epochs:
        sampler = EpochSampler(len(rows), s.batch_size, ctx.world, ctx.rank, s.seed, epoch, step_in_epoch)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=s.batch_size, sampler=sampler, num_workers=workers, pin_memory=ctx.cuda,
            # A private generator: creating a loader must not draw from the global RNG (resume exactness).
            generator=torch.Generator().manual_seed(s.seed), persistent_workers=False,
        )
        net.train()
        model_source.reset_metrics(model)  # per-epoch module statistics (e.g. SGS's B' histogram)
        t0 = time.monotonic()
        for x, y in loader:
            x = x.to(ctx.device, non_blocking=True)
            y = y.to(ctx.device, non_blocking=True)
            if ctx.cuda:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            with torch.autocast(ctx.device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=s.label_smoothing)
            bad = dist.all_reduce_sum(torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=ctx.device))
            if bad.item() > 0:
                kept = f"last good checkpoint kept at {state_path}" if state_path.exists() else "no checkpoint was written yet"
                raise TrainingDiverged(f"non-finite loss at epoch {epoch}, step {step_in_epoch} (global step "
                                       f"{global_step}); lower the learning rate or check the data; {kept}")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            n = y.numel()
            acc["loss_sum"] += float(loss.detach()) * n
            acc["correct"] += int((logits.detach().argmax(1) == y).sum())
            acc["count"] += n
            step_in_epoch += 1
            global_step += 1
            if bar is not None:
                bar.update(1, note=f"epoch {epoch} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.4g}")
            if s.checkpoint_every and global_step % s.checkpoint_every == 0 and step_in_epoch < steps_per_epoch:
                acc["seconds"] += time.monotonic() - t0
                t0 = time.monotonic()
                save_state()
        acc["seconds"] += time.monotonic() - t0
        history.append(_epoch_row(ctx, epoch, acc, sched.get_last_lr()[0], steps_per_epoch))
        history[-1].update(model_source.collect_metrics(model, input_shape=(3, s.frames, s.crop, s.crop),
                                                        training=True))
        say(f"epoch {epoch}: loss {history[-1]['loss']:.4f} accuracy {history[-1]['accuracy']:.3f} "
            f"{history[-1]['clips_per_s']:.1f} clips/s")
        skipped = failures.collect() if ctx.is_main else []
        if skipped:
            say(f"{len(skipped)} video(s) could not be read so far, each clip replaced by another video's "
                f"(first: {skipped[0]['path']}: {skipped[0]['reason']}); listed in {out_dir / SKIPPED_FILE} at the end")
        epoch, step_in_epoch, acc = epoch + 1, 0, _fresh_acc()
        save_state()
    if bar is not None:
        bar.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path, metrics_path = out_dir / "model.pt", out_dir / "metrics.parquet"
    if ctx.is_main:
        import pandas as pd

        modules = _stage_modules()
        checkpoint.save(model_path, {
            "model": _cpu_state(model), "record": record, "num_classes": num_classes,
            "class_names": [str(c) for c in getattr(source, "class_names", range(num_classes))],
            "settings": s.to_dict(), "run_digest": digest,
        })
        write_parquet(metrics_path, pd.DataFrame(history), Provenance.make(METRICS_SCHEMA, 1, config, modules))
        skipped = failures.collect()
        replaced = sum(e["replaced_clips"] for e in skipped)
        write_json(out_dir / SKIPPED_FILE, {"count": len(skipped), "replaced_clips": replaced, "videos": skipped},
                   Provenance.make(SKIPPED_SCHEMA, 1, config, modules))
        # The spec of the network actually trained (with SE/activation options applied) when the builder
        # exposes it, so profiling arch.json counts exactly this network.
        eff = getattr(model, "spec", None)
        spec = json.loads(eff.to_json()) if hasattr(eff, "to_json") else record.get("spec")
        write_json(out_dir / "arch.json", {"record": record, "num_classes": num_classes,
                                            **({"spec": spec} if spec is not None else {})},
                   Provenance.make(MODEL_RECORD_SCHEMA, 1, config, modules))
    dist.barrier()
    return TrainResult(model_path, metrics_path, history, resumed_from)


def _load_init(model: nn.Module, init: dict[str, Any], say: Callable[[str], None]):
    from e3d.models.checkpoints import InitError, init_file_digest, load_init

    path = init["file"]
    digest = init_file_digest(path)
    if digest != init["sha256"]:
        raise InitError(f"init: {path} changed since the run was set up (sha256 {digest[:16]}, expected "
                        f"{init['sha256'][:16]}); start the run again")
    return load_init(model, path, log=say)


def _label(record: dict[str, Any]) -> str:
    return str(record.get("source") or record.get("kind"))


def _fresh_acc() -> dict[str, float]:
    return {"loss_sum": 0.0, "correct": 0, "count": 0, "seconds": 0.0}


def _epoch_row(ctx, epoch: int, acc: dict, lr: float, steps: int) -> dict[str, Any]:
    # On the process group's device: NCCL reduces CUDA tensors only.
    t = torch.tensor([acc["loss_sum"], acc["correct"], acc["count"], acc["seconds"]], dtype=torch.float64,
                     device=ctx.device)
    t = dist.all_reduce_sum(t).cpu()
    secs = t[3] / ctx.world
    count = max(1.0, float(t[2]))
    return {"epoch": epoch, "loss": float(t[0]) / count, "accuracy": float(t[1]) / count, "lr": float(lr),
            "clips": int(t[2]), "steps": steps, "seconds": float(secs),
            "clips_per_s": float(t[2]) / max(1e-9, float(secs))}


def _autocast_dtype(ctx: dist.Context, precision: str):
    if precision not in ("auto", "bf16", "fp16", "fp32"):
        raise E3DError(f"precision must be auto, bf16, fp16 or fp32, got {precision!r}")
    if not ctx.cuda or precision == "fp32":
        return None  # CPU training stays in fp32: bf16 CPU kernels are slow and change results
    return torch.float16 if precision == "fp16" else torch.bfloat16


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def _gather_ranks(ctx: dist.Context, mine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's own part of the state, collected on rank 0: RNG states (dropout masks differ per rank) and
    the running sums of the epoch so far (each rank's over its own shard)."""
    if ctx.world == 1:
        return [mine]
    import torch.distributed as tdist

    out: list[Any] = [None] * ctx.world
    tdist.all_gather_object(out, mine)
    return out
