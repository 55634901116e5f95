"""Profile one architecture: fvcore counts beside the analytic cost model, and optionally latency/throughput.

Latency follows the paper's Table 13 protocol: batch 16, warm-up iterations, timed repeats, the median batch time;
latency = median batch time / batch (ms per video), throughput = batch / median batch time (videos per second).
The paper's latencies are exactly 1000 / throughput at batch 16; `single_clip_repeats` > 0 also times one clip
alone (batch 1), the latency one video waits for, before the batch (so its warm-up passes also warm the process:
threads, allocator, weights). On CUDA the model runs under bf16 autocast with channels_last_3d memory
format; on the CPU in fp32, with the torch thread count and the CPU model recorded beside the times.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from e3d.arch.cost import CONVENTION, cost
from e3d.arch.spec import ArchSpec
from e3d.errors import UserError
from e3d.hostinfo import cpu_model_name
from e3d.models.builder import build_model
from e3d.models.flops import fvcore_counts

PROFILE_SCHEMA_VERSION = 1


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device: expected auto, cpu or cuda, got {device!r}")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model_name()}, {torch.get_num_threads()} threads)"


def measure_latency(model: torch.nn.Module, clip_shape: tuple[int, ...], device: torch.device, batch: int = 16,
                    warmup: int = 5, repeats: int = 20) -> dict[str, Any]:
    model = model.to(device).eval()
    x = torch.randn(batch, *clip_shape, device=device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    out = {
        "batch": batch,
        "warmup": warmup,
        "repeats": repeats,
        "median_batch_seconds": median,
        "latency_ms_per_video": 1000.0 * median / batch,
        "throughput_videos_per_s": batch / median,
        "precision": "bf16 autocast, channels_last_3d" if cuda else "fp32",
        "device": device_name(device),
        "seconds": [round(t, 6) for t in times],
    }
    if not cuda:
        out.update(cpu_model=cpu_model_name(), threads=torch.get_num_threads())
    return out


def profile_model(spec: ArchSpec, resolution: int | None = None, frames: int | None = None, num_classes: int = 400,
                  *, latency: bool = False, device: str = "auto", batch: int = 16, warmup: int = 5,
                  repeats: int = 20, se_ratio: float | None = None, act: str | None = None,
                  single_clip_warmup: int = 1, single_clip_repeats: int = 0) -> dict[str, Any]:
    """fvcore GFLOPs (conv+linear and fvcore's default), params and the analytic figures for one clip at
    (resolution, frames) (defaults: the spec's own); with latency=True also latency/throughput at `batch`
    ("latency", `warmup` + `repeats` passes) and, with single_clip_repeats > 0, the time of one clip alone
    ("latency_single_clip", batch 1, `single_clip_warmup` + `single_clip_repeats` passes, measured first)."""
    r = spec.resolution if resolution is None else resolution
    t = spec.frames if frames is None else frames
    model = build_model(spec, num_classes, se_ratio=se_ratio, act=act)
    analytic = cost(model.spec, r, t, num_classes=num_classes)
    counts = fvcore_counts(model, torch.zeros(1, spec.in_channels, t, r, r))
    out: dict[str, Any] = {
        "arch": spec.name,
        "family": spec.family,
        "resolution": r,
        "frames": t,
        "num_classes": num_classes,
        "convention": CONVENTION,
        "fvcore_gflops_conv": counts["conv_macs"] * 1e-9,
        "fvcore_gflops_full": counts["full_flops"] * 1e-9,
        "fvcore_by_operator": counts["by_operator"],
        "fvcore_params": counts["params"],
        "analytic_gflops": analytic.gflops,
        "analytic_params": analytic.params,
        "analytic_layers": analytic.layers,
        "analytic_peak_activation_bytes": analytic.peak_activation_bytes,
        "analytic_matches_fvcore": analytic.macs == counts["conv_macs"] and analytic.params == counts["params"],
        "spec": model.spec.to_dict(),
    }
    if single_clip_repeats and not latency:
        raise UserError("single-clip latency needs latency=True (e3d profile --latency --single-clip-repeats N)")
    if latency:
        dev = pick_device(device)
        clip = (spec.in_channels, t, r, r)
        if single_clip_repeats:
            out["latency_single_clip"] = measure_latency(model, clip, dev, 1, single_clip_warmup, single_clip_repeats)
        out["latency"] = measure_latency(model, clip, dev, batch, warmup, repeats)
    return out
