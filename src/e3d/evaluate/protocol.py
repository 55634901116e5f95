"""The test protocol of one (dataset, model): views, clips, test crop and clip spacing.

Resolved from the `evaluate` config slice in three layers, later ones winning: the section's own keys (every
dataset), `evaluate.datasets.<dataset>` (e.g. Kinetics-400's 3 crops x 10 clips), and
`evaluate.datasets.<dataset>.models.<model>` (e.g. X3D's larger test crop). No torch here: Snakemake reads it
while it builds the DAG.

The protocol's keys (EvalProtocol) and the section's other settings (EvalSettings) are declared once here: the
config's `evaluate` schema (workflow/schemas/generated/evaluate.schema.yaml, `python -m e3d.schemagen --write`) and
the `e3d evaluate` flags come from these fields, and the test crop's lower bound is the training crop's (MIN_CROP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from e3d.cliflags import to_flags
from e3d.data.sampling import DEFAULT_SPACING, SPACINGS
from e3d.errors import UserError
from e3d.settingspec import check_fields, key_names, setting
from e3d.train.settings import MIN_CROP

VIEW_CROPS = {"center": 1, "lcr": 3}  # spatial crops per clip of each view mode


@dataclass(frozen=True)
class EvalProtocol:
    """How one (dataset, model) is tested; each key may be set for the section, a dataset and a model on it."""

    views: str = setting("center", enum=list(VIEW_CROPS),
                         doc="center: K clips x 1 centre crop; lcr: K clips x 3 crops (left, centre, right)")
    clips: int = setting(1, minimum=1, doc="K clips uniformly spaced in time")
    crop: int | None = setting(None, minimum=MIN_CROP, doc="test crop (null = the training crop)")
    spacing: str = setting(
        DEFAULT_SPACING, enum=list(SPACINGS),
        doc="how the K clips spread over a video (D = frames - clip span): pyslowfast = clip k starts at D k / K, "
            "PySlowFast's default and X3D's Kinetics testing; pyslowfast_offset = k D / (K - 1) with K = 1 the "
            "centre clip, PySlowFast's USE_OFFSET_SAMPLING. TSN segment sampling always tests each segment's centre "
            "when K = 1")

    def __post_init__(self) -> None:
        check_fields(self, UserError, "evaluate: ")


@dataclass(frozen=True)
class EvalSettings:
    """The evaluate section's settings beside the protocol (split and batch size are `e3d evaluate` flags too)."""

    split: str = setting("val", doc="the split evaluated")
    batch_size: int = setting(8, minimum=1, doc="clips per forward pass (bounds memory, not K)")
    single_frame_control: bool = setting(True, doc="also evaluate on one repeated frame per clip")
    latency: bool = setting(False, doc="measure latency/throughput in the profile rule")

    def __post_init__(self) -> None:
        check_fields(self, UserError, "evaluate: ")


PROTOCOL_KEYS = tuple(key_names(EvalProtocol))  # views, clips, crop, spacing
EVAL_FLAG_KEYS = ("split", "batch_size")  # the EvalSettings fields `e3d evaluate` takes as flags
# A config-only key of a per-dataset or per-model protocol.
SOURCE_KEY = {"source": {"type": "string", "description": "where these numbers come from (documentation only)"}}


def test_protocol(evaluate: Mapping[str, Any], dataset: str | None = None, model: str | None = None) -> dict[str, Any]:
    """{views, clips, crop, spacing} for `model` evaluated on `dataset` (crop None = the training crop); without a
    model, the dataset's own protocol; without a dataset, the section's default."""
    protocol = {k: evaluate.get(k) for k in PROTOCOL_KEYS}
    per_dataset = (evaluate.get("datasets") or {}).get(dataset) or {} if dataset is not None else {}
    protocol.update({k: v for k, v in per_dataset.items() if k in PROTOCOL_KEYS})
    per_model = (per_dataset.get("models") or {}).get(model) or {} if model is not None else {}
    protocol.update({k: v for k, v in per_model.items() if k in PROTOCOL_KEYS})
    return protocol


test_protocol.__test__ = False  # a library function, not a pytest test


def describe(protocol: Mapping[str, Any]) -> str:
    """One line for captions: crops x clips (mode[, crop N], spacing)."""
    crop = f", crop {protocol['crop']}" if protocol.get("crop") else ""
    return (f"{VIEW_CROPS[protocol['views']]}x{protocol['clips']} ({protocol['views']}{crop}, "
            f"{protocol['spacing']} spacing)")


def protocol_flags(protocol: Mapping[str, Any]) -> str:
    """The `e3d evaluate` flags of a resolved protocol."""
    return to_flags({"views": protocol["views"], "clips": protocol["clips"], "spacing": protocol["spacing"],
                     "crop": protocol.get("crop") or None})
