"""Published checkpoints as initial weights (`init:` of a models entry): the one place that maps their keys onto ours.

Layouts read (found from the keys, never guessed from the file name):

- ``pytorchvideo``: the state dict of ``pytorchvideo.models.x3d.create_x3d`` (``blocks.0.conv.conv_t.weight``, ...),
  plain or under ``model_state`` (pytorchvideo's hub files).
- ``pyslowfast``: PySlowFast's X3D (``s1.pathway0_stem.conv_xy.weight``, ``s2.pathway0_res0.branch2.a.weight``, ...),
  under ``model_state`` as its checkpoints save it.
- ``e3d``: a model.pt written by ``e3d train`` (our own names), for any of our networks.

Both published layouts name the same network as our X3D builder (see e3d.arch.baselines), with one difference:
PySlowFast puts a BN on every projection shortcut, pytorchvideo (and our builder, whose parameter count matches
pytorchvideo's) not on a shortcut that only strides (24 -> 24 in the first stage). Such a BN is folded into the
shortcut conv's weight and the block's last BN bias, which gives the same eval-mode output; fine-tuning then trains
pytorchvideo's network.

Every check runs on the whole mapped dict before anything is copied, so a checkpoint that does not fit loads nothing.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from e3d.errors import UserError

LAYOUTS = ("pytorchvideo", "pyslowfast", "e3d")
# One key each layout always has, and none of the others does.
SIGNATURES = {
    "pytorchvideo": "blocks.0.conv.conv_t.weight",
    "pyslowfast": "s1.pathway0_stem.conv_xy.weight",
    "e3d": "stem.0.weight",
}
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
SHOW = 5  # how many mismatching keys an error names


class CheckpointFileError(UserError):
    """A weights file that cannot be read, or is refused because loading it could run code."""


class InitError(UserError):
    """A checkpoint whose layout is unknown or whose keys/shapes do not fit the model; nothing was loaded."""


def init_file_digest(path: str | Path) -> str:
    """sha256 of an init checkpoint (what a run records and re-checks before it loads the file)."""
    from e3d.provenance import file_content_digest

    try:
        return file_content_digest(path)
    except OSError as exc:
        raise InitError(f"init: {path}: cannot read the init checkpoint ({exc.strerror})") from exc


def read_weights_only(path: str | Path, what: str = "checkpoint") -> Any:
    """torch.load(weights_only=True) with our errors: a file that needs more than tensors and plain containers is
    refused without torch's advice to load it with weights_only=False (that would run whatever code it holds)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointFileError(f"{path}: {what} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if "Weights only load failed" not in text or (not found and "Unsupported operand" in text):
            # not a pickle torch can read at all (a foreign or truncated file); torch's text would advise
            # weights_only=False here too
            raise CheckpointFileError(f"{path}: not a readable {what} (not a torch.save file)") from None
        names = f" (it names {found.group(1)})" if found else ""
        raise CheckpointFileError(
            f"{path}: not loaded: the {what} holds pickled objects other than tensors and plain containers{names}, "
            "so loading it may run code; save the weights alone (a state dict of tensors) and pass that file"
        ) from None
    except Exception as exc:  # truncated or foreign files raise many types
        raise CheckpointFileError(f"{path}: not a readable {what} ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def state_dict_of(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file: `model_state` (PySlowFast, pytorchvideo hub), `model` (e3d model.pt),
    `state_dict`, or the file itself; a `module.` prefix (DDP) on every key is dropped."""
    sd = obj
    if isinstance(obj, dict):
        for key in ("model_state", "model", "state_dict"):
            if isinstance(obj.get(key), dict):
                sd = obj[key]
                break
    if not isinstance(sd, dict) or not sd or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                    for k, v in sd.items()):
        top = sorted(map(str, obj))[:SHOW] if isinstance(obj, dict) else type(obj).__name__
        raise InitError(f"{path}: no state dict of tensors found (top level: {top}); expected a state dict, "
                        "or one under 'model_state' (PySlowFast, pytorchvideo) or 'model' (e3d model.pt)")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect_layout(sd: dict[str, torch.Tensor], path: str | Path) -> str:
    for layout, key in SIGNATURES.items():
        if key in sd:
            return layout
    first = list(sd)[:SHOW]
    known = "; ".join(f"{layout} (has {key})" for layout, key in SIGNATURES.items())
    raise InitError(f"{path}: unknown checkpoint layout: first keys {first}; known layouts: {known}")


# ---- the key map ----
@dataclass
class _Link:
    """Our module `ours` <- their module `theirs`: every state-dict entry of `ours` comes from the same suffix."""

    ours: str
    theirs: str


@dataclass
class _Fold:
    """Their BN `theirs` on a shortcut conv `conv` that ours has without BN; `bias_into`: the BN whose bias absorbs
    the BN's shift (the one ending the residual branch the shortcut is added to)."""

    theirs: str
    conv: str
    bias_into: str


@dataclass
class KeyMap:
    links: list[_Link] = field(default_factory=list)
    folds: list[_Fold] = field(default_factory=list)


_PV_BLOCK = {"expand.0": "branch2.conv_a", "expand.1": "branch2.norm_a", "depthwise.0": "branch2.conv_b",
             "depthwise.1": "branch2.norm_b.0", "se.reduce": "branch2.norm_b.1.block.0",
             "se.expand": "branch2.norm_b.1.block.2", "project.0": "branch2.conv_c", "project.1": "branch2.norm_c",
             "residual.0": "branch1_conv", "residual.1": "branch1_norm"}
_SF_BLOCK = {"expand.0": "branch2.a", "expand.1": "branch2.a_bn", "depthwise.0": "branch2.b",
             "depthwise.1": "branch2.b_bn", "se.reduce": "branch2.se.fc1", "se.expand": "branch2.se.fc2",
             "project.0": "branch2.c", "project.1": "branch2.c_bn", "residual.0": "branch1", "residual.1": "branch1_bn"}
# pytorchvideo calls the stem's 1x3x3 conv conv_t and its 5x1x1 conv conv_xy (sic); PySlowFast conv_xy and conv.
_PV_FIXED = {"stem.0": "blocks.0.conv.conv_t", "stem.1": "blocks.0.conv.conv_xy", "stem.2": "blocks.0.norm",
             "final.0": "blocks.{head}.pool.pre_conv", "final.1": "blocks.{head}.pool.pre_norm",
             "head.hidden": "blocks.{head}.pool.post_conv", "head.classifier": "blocks.{head}.proj"}
_SF_FIXED = {"stem.0": "s1.pathway0_stem.conv_xy", "stem.1": "s1.pathway0_stem.conv", "stem.2": "s1.pathway0_stem.bn",
             "final.0": "head.conv_5", "final.1": "head.conv_5_bn", "head.hidden": "head.lin_5",
             "head.classifier": "head.projection"}


def x3d_key_map(model: nn.Module, layout: str) -> KeyMap:
    """Our X3D (e3d.models.builder.VideoNet of an x3d spec) against a published layout, walked from the model itself
    so that depths and SE placement come from the spec."""
    from e3d.models.builder import InvertedBottleneck, SqueezeExcite, VideoNet

    if not isinstance(model, VideoNet) or model.spec.family != "x3d" or len(model.temporal):
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        raise InitError(f"init: the {layout} layout holds an X3D; it maps only onto an x3d model without inserted "
                        f"modules, not {name}")
    fixed, block, stage_name = ((_PV_FIXED, _PV_BLOCK, "blocks.{s}.res_blocks.{j}") if layout == "pytorchvideo"
                                else (_SF_FIXED, _SF_BLOCK, "s{s}.pathway0_res{j}"))
    head_index = len(model.stages) + 1
    km = KeyMap([_Link(o, t.format(head=head_index)) for o, t in fixed.items()])
    for i, stage in enumerate(model.stages):
        for j, blk in enumerate(stage):
            assert isinstance(blk, InvertedBottleneck)
            ours = f"stages.{i}.{j}"
            theirs = stage_name.format(s=i + 1 if layout == "pytorchvideo" else i + 2, j=j)
            parts = ["expand.0", "expand.1", "depthwise.0", "depthwise.1", "project.0", "project.1"]
            for k, m in enumerate(blk.depthwise):
                if isinstance(m, SqueezeExcite):
                    km.links += [_Link(f"{ours}.depthwise.{k}.reduce", f"{theirs}.{block['se.reduce']}"),
                                 _Link(f"{ours}.depthwise.{k}.expand", f"{theirs}.{block['se.expand']}")]
            if isinstance(blk.residual, nn.Sequential):  # X3D's projection shortcut: 1x1x1 conv [+ BN]
                parts.append("residual.0")
                if len(blk.residual) > 1:
                    parts.append("residual.1")
                else:
                    km.folds.append(_Fold(f"{theirs}.{block['residual.1']}", f"{ours}.residual.0.weight",
                                          f"{ours}.project.1.bias"))
            km.links += [_Link(f"{ours}.{p}", f"{theirs}.{block[p]}") for p in parts]
    return km


def key_map(model: nn.Module, layout: str) -> KeyMap:
    return KeyMap([_Link("", "")]) if layout == "e3d" else x3d_key_map(model, layout)


def _join(prefix: str, suffix: str) -> str:
    return f"{prefix}.{suffix}" if prefix else suffix


def _their_name(km: KeyMap, ours: str) -> str | None:
    """The key a checkpoint of this layout holds for our key `ours` (None: the layout has no counterpart)."""
    best = max((ln for ln in km.links if ln.ours == "" or ours == ln.ours or ours.startswith(ln.ours + ".")),
               key=lambda ln: len(ln.ours), default=None)
    return None if best is None else _join(best.theirs, ours[len(best.ours):].lstrip("."))


# ---- loading ----
@dataclass
class InitResult:
    layout: str
    keys: int  # entries copied
    head: str  # "kept" or "re-initialised A -> B classes"
    folded: list[str]  # their BN modules folded into a shortcut conv

    def summary(self) -> dict[str, Any]:
        return {"layout": self.layout, "keys": self.keys, "head": self.head, "folded": self.folded}


CLASSIFIER = ("head.classifier.weight", "head.classifier.bias")


def map_state_dict(model: nn.Module, sd: dict[str, torch.Tensor], layout: str,
                   path: str | Path) -> tuple[dict[str, torch.Tensor], InitResult]:
    """Their state dict -> ours (a complete state dict for `model` except a re-initialised classifier), or InitError
    naming the first missing, unexpected and wrongly shaped keys."""
    km = key_map(model, layout)
    ours = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    shapes: list[str] = []
    for key, target in ours.items():
        name = _their_name(km, key)
        if name is None:
            missing.append(f"(no {layout} name for our {key})")
            continue
        if name not in sd:
            missing.append(name if name == key else f"{name} (our {key})")
            continue
        used.add(name)
        value = sd[name]
        if value.shape != target.shape and value.numel() == target.numel() and key == "head.hidden.weight":
            value = value.reshape(target.shape)  # a 1x1x1 conv after the global pool is our Linear
        if value.shape != target.shape and not (key in CLASSIFIER and value.shape[1:] == target.shape[1:]):
            shapes.append(f"{name} {list(value.shape)} (our {key} {list(target.shape)})")
            continue
        mapped[key] = value
    folds = [f for f in km.folds if any(_join(f.theirs, b) in sd for b in BN_KEYS)]
    for f in folds:
        names = {b: _join(f.theirs, b) for b in BN_KEYS}
        absent = [n for b, n in names.items() if n not in sd and b != "num_batches_tracked"]
        missing += absent
        used.update(n for n in names.values() if n in sd)
        width = ours[f.conv].shape[0]
        shapes += [f"{n} {list(sd[n].shape)} (folded into our {f.conv}, {width} channels)" for b, n in names.items()
                   if n in sd and b != "num_batches_tracked" and tuple(sd[n].shape) != (width,)]
    unexpected = [k for k in sd if k not in used]
    problems = [f"{label} ({len(keys)}): {', '.join(keys[:SHOW])}{' ...' if len(keys) > SHOW else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes))
                if keys]
    if problems:
        name = getattr(getattr(model, "spec", None), "name", type(model).__name__)
        raise InitError(f"{path}: {layout} checkpoint does not fit {name}, nothing loaded; " + "; ".join(problems))
    for f in folds:
        # eval-mode BN(y) = scale * y + shift: scale into the conv, shift into the bias of the branch it is added to
        bn = {b: sd[_join(f.theirs, b)].double() for b in BN_KEYS[:4]}
        scale = bn["weight"] / torch.sqrt(bn["running_var"] + _bn_eps(model, f.bias_into))
        shift = bn["bias"] - bn["running_mean"] * scale
        conv = mapped[f.conv]
        mapped[f.conv] = (conv.double() * scale.view(-1, *[1] * (conv.dim() - 1))).to(conv.dtype)
        mapped[f.bias_into] = (mapped[f.bias_into].double() + shift).to(conv.dtype)
    head = "kept"
    if any(k in mapped and mapped[k].shape != ours[k].shape for k in CLASSIFIER):
        theirs = mapped[CLASSIFIER[0]].shape[0] if CLASSIFIER[0] in mapped else "?"
        head = f"re-initialised {theirs} -> {ours[CLASSIFIER[0]].shape[0]} classes"
        for k in CLASSIFIER:
            mapped.pop(k, None)
    return mapped, InitResult(layout, len(mapped), head, [f.theirs for f in folds])


def _bn_eps(model: nn.Module, bias_key: str) -> float:
    # the folded BN is PySlowFast's/pytorchvideo's default BatchNorm3d, with the eps all the model's BNs share
    bn = model.get_submodule(bias_key.rpartition(".")[0])
    return float(bn.eps)


def load_init(model: nn.Module, path: str | Path, log: Callable[[str], None] = print) -> InitResult:
    """Load the checkpoint at `path` into `model` (mapping its layout's keys), all or nothing. A classifier for
    another class count keeps the model's fresh initialisation, and `log` says so."""
    obj = read_weights_only(path, "init checkpoint")
    sd = state_dict_of(obj, path)
    # our own model.pt says what it is; a bare state dict is told by its keys
    layout = "e3d" if isinstance(obj, dict) and "checkpoint_version" in obj else detect_layout(sd, path)
    mapped, result = map_state_dict(model, sd, layout, path)
    left = model.load_state_dict(mapped, strict=False)
    assert not left.unexpected_keys and set(left.missing_keys) <= set(CLASSIFIER), left
    msg = f"init: {path}: {result.keys} tensors from the {layout} layout"
    if result.folded:
        msg += f", shortcut BN folded into its conv ({', '.join(result.folded)})"
    log(msg)
    if result.head != "kept":
        log(f"init: head {result.head.removeprefix('re-initialised ')} re-initialised")
    return result
