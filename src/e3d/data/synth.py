"""The built-in synthetic video dataset: real H.264/VP9 files in the Kinetics-400 layout.

Every class is one member of a pair that differs only by the direction of time (left-to-right vs
right-to-left, approaching vs receding, appearing vs disappearing, clockwise vs anticlockwise,
top-to-bottom vs bottom-to-top). In every class the main object's position, size, orientation and
opacity are drawn from the same marginal distributions, and exactly one of them changes over time: a
monotone ramp across the whole clip, covering a random share `span` of the attribute's range from a random
start in [0, 1 - span]. Playing a clip backwards gives a clip of the partner class with start' = 1 - start - span,
which is drawn from the same distribution, so one frame says nothing about the class (a model fed a repeated
frame stays near chance) while any two frames a little apart agree on it (no wrap-around inside a clip).

Determinism: clip i is rendered from `np.random.default_rng([seed, i])`, so a clip does not depend
on the size of the dataset, and x264/libvpx run single-threaded so the encoded bytes are stable.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from e3d.errors import UserError
from e3d.settingspec import check_fields, setting

# (name, varying attribute, direction). Order is the label order; pairs are adjacent.
CLASSES: tuple[tuple[str, str, int], ...] = (
    ("moving left to right", "x", +1),
    ("moving right to left", "x", -1),
    ("approaching", "size", +1),
    ("receding", "size", -1),
    ("appearing", "alpha", +1),
    ("disappearing", "alpha", -1),
    ("rotating clockwise", "angle", +1),
    ("rotating anticlockwise", "angle", -1),
    ("moving top to bottom", "y", +1),
    ("moving bottom to top", "y", -1),
)

# Wide ranges, so that the one varying attribute changes visibly even at the 32 px of CPU-scale training.
SIZE_RANGE = (0.15, 0.5)  # object radius range, as a fraction of the short side
ALPHA_RANGE = (0.25, 1.0)  # opacity range: even the faintest object stays visible
SHAPES = ("pacman", "triangle", "arrow")
MAX_FPS = 120


@dataclass(frozen=True)
class SynthSettings:
    """`e3d synth`'s settings, declared once: the config's `data.datasets.NAME.synth` schema
    (workflow/schemas/generated/data_dataset.schema.yaml, `python -m e3d.schemagen --write`) and the `e3d synth`
    flags come from these fields; __post_init__ checks their bounds and the ranges' order."""

    seed: int = setting(0, doc="clip i is rendered from the random generator [seed, i]")
    classes: int = setting(10, minimum=2, maximum=len(CLASSES), doc="the first N classes (time-reversed pairs)")
    clips_per_class: int = setting(100, minimum=2)
    val_fraction: float = setting(0.2, exclusiveMinimum=0, exclusiveMaximum=1,
                                  doc="share of each class's clips in the val split (at least one)")
    min_side: int = setting(64, minimum=16, doc="frame sizes: the short side is drawn from [min_side, max_side]")
    max_side: int = setting(128, minimum=16)
    min_seconds: float = setting(1.0, minimum=0.2, doc="clip lengths are drawn from [min_seconds, max_seconds]")
    max_seconds: float = setting(5.0, minimum=0.2)
    min_fps: int = setting(12, minimum=1, maximum=MAX_FPS, doc="frame rates are drawn from [min_fps, max_fps]")
    max_fps: int = setting(100, minimum=1, maximum=MAX_FPS)
    webm_fraction: float = setting(0.2, minimum=0, maximum=1, doc="share of clips written as VP9 WebM (else H.264 mp4)")
    min_span: float = setting(0.6, minimum=0.1, maximum=1.0,
                              doc="share of the attribute's range the object covers over the clip (its speed), "
                                  "drawn from [min_span, max_span]")
    max_span: float = setting(0.9, minimum=0.1, maximum=1.0)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_fields(self, UserError, "synth settings: ")
        for low, high in (("min_side", "max_side"), ("min_seconds", "max_seconds"), ("min_fps", "max_fps"),
                          ("min_span", "max_span")):
            if getattr(self, low) > getattr(self, high):
                raise UserError(f"synth settings: need {low} <= {high}, got {getattr(self, low)}, "
                                f"{getattr(self, high)}")


@dataclass
class ClipSpec:
    """Everything that determines one clip (rendered deterministically from it)."""

    index: int
    label: int
    split: str
    width: int
    height: int
    fps: int
    num_frames: int
    container: str  # "mp4" (H.264) or "webm" (VP9)
    params: dict = field(default_factory=dict)

    @property
    def video_id(self) -> str:
        return f"syn{self.index:05d}"

    @property
    def time_end(self) -> int:
        return max(1, math.ceil(self.num_frames / self.fps))

    @property
    def stem(self) -> str:
        # Kinetics clip naming: {youtube_id}_{time_start:06d}_{time_end:06d}
        return f"{self.video_id}_{0:06d}_{self.time_end:06d}"

    def relpath(self, class_names: list[str]) -> str:
        return f"{self.split}/{class_names[self.label]}/{self.stem}.{self.container}"


def class_names(n: int) -> list[str]:
    return [c[0] for c in CLASSES[:n]]


def plan(settings: SynthSettings) -> list[ClipSpec]:
    """Decide every clip's label, split, size, fps, length and motion parameters."""
    settings.validate()
    specs = []
    n_val = max(1, round(settings.clips_per_class * settings.val_fraction))
    index = 0
    for label in range(settings.classes):
        for k in range(settings.clips_per_class):
            rng = np.random.default_rng([settings.seed, index])
            split = "val" if k >= settings.clips_per_class - n_val else "train"
            short = _even(rng.integers(settings.min_side, settings.max_side + 1))
            aspect = rng.choice([1.0, 4 / 3, 16 / 9, 3 / 4])
            if aspect >= 1:
                height, width = short, _even(short * aspect)
            else:
                width, height = short, _even(short / aspect)
            fps = int(rng.integers(settings.min_fps, settings.max_fps + 1))
            seconds = rng.uniform(settings.min_seconds, settings.max_seconds)
            num_frames = max(2, int(round(seconds * fps)))
            container = "webm" if rng.random() < settings.webm_fraction else "mp4"
            params = _draw_params(rng, settings, width, height)
            specs.append(ClipSpec(index, label, split, width, height, fps, num_frames, container, params))
            index += 1
    return specs


def _even(v: float) -> int:
    return max(2, int(round(v / 2)) * 2)


def _draw_params(rng: np.random.Generator, s: SynthSettings, width: int, height: int) -> dict:
    short = min(width, height)
    # Always a bright object on a darker background: with both polarities, "appearing" would brighten some
    # clips and darken others, which doubles what a small network must learn and adds nothing temporal.
    bg_lum = rng.uniform(15, 90)
    obj_lum = rng.uniform(190, 255)
    return {
        **_ramp(rng, s),
        "shape": str(rng.choice(SHAPES)),
        # static values of the attributes that do not vary, drawn from the varying ones' marginals
        "x": float(rng.uniform(0.1, 0.9)),
        "y": float(rng.uniform(0.1, 0.9)),
        "size": float(rng.uniform(*SIZE_RANGE)),
        "alpha": float(rng.uniform(*ALPHA_RANGE)),
        "angle": float(rng.uniform(0, 2 * math.pi)),
        "bg": _tint(rng, bg_lum, 40),
        "bg_gradient": _tint(rng, 0, 30),
        "bg_noise_seed": int(rng.integers(2**31)),
        "obj": _tint(rng, obj_lum, 50),
        "distractors": [
            {
                "x": float(rng.uniform(0.05, 0.95)),
                "y": float(rng.uniform(0.05, 0.95)),
                "r": float(rng.uniform(0.05, 0.1) * short),
                "color": _tint(rng, rng.uniform(60, 200), 60),
                "square": bool(rng.random() < 0.5),
            }
            for _ in range(int(rng.integers(1, 4)))
        ],
    }


def _ramp(rng: np.random.Generator, s: SynthSettings) -> dict:
    span = float(rng.uniform(s.min_span, s.max_span))
    return {"span": span, "start": float(rng.uniform(0.0, 1.0 - span))}


def _tint(rng: np.random.Generator, lum: float, spread: float) -> list[float]:
    return [float(np.clip(lum + rng.uniform(-spread, spread), 0, 255)) for _ in range(3)]


def _attribute(spec: ClipSpec, attr: str, t: float) -> float:
    """Value of one object attribute at time t (s): static unless it is the class's varying one."""
    p = spec.params
    name, varying, direction = CLASSES[spec.label]
    if attr != varying:
        return p[attr]
    duration = max(spec.num_frames - 1, 1) / spec.fps
    frac = p["start"] + p["span"] * min(t / duration, 1.0)
    if direction < 0:
        frac = 1.0 - frac
    if attr in ("x", "y"):
        return -0.1 + 1.2 * frac  # from just off one edge to just off the other
    if attr == "size":
        return SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * frac
    if attr == "alpha":
        return ALPHA_RANGE[0] + (ALPHA_RANGE[1] - ALPHA_RANGE[0]) * frac
    if attr == "angle":
        # image y points down, so increasing angle turns clockwise on screen. Half a turn over the whole range
        # keeps the turn between two frames of a clip well under 90 degrees, where its direction is unambiguous.
        return p["angle"] + math.pi * frac
    raise KeyError(attr)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of a unit-radius shape pointing along +u (no rotational symmetry, so rotation is visible)."""
    if shape == "pacman":
        r2 = u * u + v * v
        mouth = (u > 0) & (np.abs(v) < u * math.tan(math.radians(35)))
        return (r2 <= 1.0) & ~mouth
    if shape == "triangle":
        # isosceles triangle, apex at (1, 0), base at u = -0.7 with half-width 0.6
        inside_base = u >= -0.7
        half = 0.6 * (1.0 - u) / 1.7
        return inside_base & (np.abs(v) <= half)
    if shape == "arrow":
        shaft = (u >= -1.0) & (u <= 0.2) & (np.abs(v) <= 0.22)
        head = (u >= 0.2) & (u <= 1.0) & (np.abs(v) <= 0.7 * (1.0 - u) / 0.8)
        return shaft | head
    raise KeyError(shape)


def render(spec: ClipSpec) -> np.ndarray:
    """All frames of one clip: uint8 [T, H, W, 3]."""
    p = spec.params
    h, w = spec.height, spec.width
    short = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = np.random.default_rng(p["bg_noise_seed"]).normal(0, 4, size=(h, w, 1)).astype(np.float32)
    ramp = (xx / max(w - 1, 1) - 0.5)[..., None]
    background = np.asarray(p["bg"], np.float32) + ramp * np.asarray(p["bg_gradient"], np.float32) + noise
    for d in p["distractors"]:
        cx, cy, r = d["x"] * w, d["y"] * h, d["r"]
        if d["square"]:
            m = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
        else:
            m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        background[m] = d["color"]
    obj = np.asarray(p["obj"], np.float32)
    frames = np.empty((spec.num_frames, h, w, 3), np.uint8)
    for i in range(spec.num_frames):
        t = i / spec.fps
        cx = _attribute(spec, "x", t) * w
        cy = _attribute(spec, "y", t) * h
        radius = _attribute(spec, "size", t) * short
        alpha = _attribute(spec, "alpha", t)
        angle = _attribute(spec, "angle", t)
        dx, dy = (xx - cx) / radius, (yy - cy) / radius
        c, s = math.cos(angle), math.sin(angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        mask = _shape_mask(p["shape"], u, v)[..., None]
        frame = np.where(mask, (1 - alpha) * background + alpha * obj, background)
        frames[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def encode(frames: np.ndarray, path: Path, fps: int, container: str) -> None:
    """Encode RGB frames with PyAV: H.264 in .mp4 or VP9 in .webm, single-threaded for stable bytes."""
    import av

    codec, options = {
        "mp4": ("libx264", {"crf": "18", "preset": "veryfast", "threads": "1"}),
        "webm": ("libvpx-vp9", {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}),
    }[container]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.{container}")
    # bitexact: no random segment UID or creation date in the container, so the bytes are reproducible
    with av.open(str(tmp), mode="w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=Fraction(fps, 1), options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)


def _make_clip(job: tuple[ClipSpec, str]) -> ClipSpec:
    spec, path = job
    encode(render(spec), Path(path), spec.fps, spec.container)
    return spec


def write_dataset(out: Path, settings: SynthSettings, on_clip: Callable[[ClipSpec], None] | None = None,
                  threads: int = 1) -> dict:
    """Render and encode every clip under `out` and write the Kinetics-style CSVs; return a summary.

    With threads > 1 clips are made by that many single-threaded worker processes; every clip depends
    only on its own spec, so the files are the same whatever the number of workers.
    """
    import multiprocessing as mp

    out = Path(out)
    specs = plan(settings)
    names = class_names(settings.classes)
    jobs = [(spec, str(out / spec.relpath(names))) for spec in specs]
    if threads > 1:
        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(threads) as pool:
            for spec in pool.imap_unordered(_make_clip, jobs, chunksize=2):
                if on_clip is not None:
                    on_clip(spec)
    else:
        for job in jobs:
            spec = _make_clip(job)
            if on_clip is not None:
                on_clip(spec)
    ann = out / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for split, fname in (("train", "train.csv"), ("val", "validate.csv")):
        _write_csv_atomic(
            ann / fname,
            [[names[s.label], s.video_id, 0, s.time_end, split] for s in specs if s.split == split],
        )
    (out / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    return {
        "settings": asdict(settings),
        "class_names": names,
        "num_videos": len(specs),
        "num_frames": int(sum(s.num_frames for s in specs)),
        "containers": {c: sum(s.container == c for s in specs) for c in ("mp4", "webm")},
        "splits": {sp: sum(s.split == sp for s in specs) for sp in ("train", "val")},
        "files": [spec.relpath(names) for spec in specs],
        "annotations": ["annotations/train.csv", "annotations/validate.csv", "classes.txt"],
    }


def _write_csv_atomic(path: Path, rows: list[list]) -> None:
    from e3d.artifacts import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writerows(rows)
