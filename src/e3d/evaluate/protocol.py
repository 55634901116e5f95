"""The test protocol of one (dataset, model): views, clips, test crop and clip spacing.

Resolved from the `evaluate` config slice in three layers, later ones winning: the section's own keys (every
dataset), `evaluate.datasets.<dataset>` (e.g. Kinetics-400's 3 crops x 10 clips), and
`evaluate.datasets.<dataset>.models.<model>` (e.g. X3D's larger test crop). No torch here: Snakemake reads it
while it builds the DAG.
"""

from __future__ import annotations

from typing import Any, Mapping

from e3d.cliflags import to_flags

PROTOCOL_KEYS = ("views", "clips", "crop", "spacing")
VIEW_CROPS = {"center": 1, "lcr": 3}  # spatial crops per clip of each view mode


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
