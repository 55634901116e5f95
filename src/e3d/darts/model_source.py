"""The searched DARTS-P3D network as a model source of the training stage: `darts:GENOTYPE.json` (or a JSON
reference with retraining overrides) -> a model record that rebuilds the discrete network from scratch, and
the TSN clip sampler its clips need (K segments x F frames: one snippet per segment, random offset in training,
centred at test). Declared as a model kind in e3d.model_kinds."""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from e3d.data.sampling import SegmentSampler
from e3d.train.model_source import ArchRefError, ModelOptions

KIND = "darts"
SAMPLER = "segments"
# Retraining overrides of the searched shape (DARTS retrains wider/deeper than it searched).
OVERRIDES = ("channels", "layers", "stem_stride")


def parse_ref(value: str) -> dict[str, Any]:
    """`PATH` or `{"genotype": PATH, "channels": .., "layers": .., "stem_stride": .., "dropout": ..}`."""
    if value.lstrip().startswith("{"):
        try:
            ref = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ArchRefError(f"architecture darts:{value}: not valid JSON ({exc})") from exc
    else:
        ref = {"genotype": value}
    unknown = sorted(set(ref) - {"genotype", "dropout", *OVERRIDES})
    if unknown or not isinstance(ref.get("genotype"), str):
        raise ArchRefError(f"architecture darts:{value}: expected a genotype path and optionally "
                           f"{', '.join(('dropout',) + OVERRIDES)}; got keys {sorted(ref)}")
    return ref


def resolve_darts(value: str, options: ModelOptions) -> dict[str, Any]:
    from e3d.artifacts import ArtifactError
    from e3d.darts.genotype import read_genotype
    from e3d.darts.space import SpaceError

    ref = parse_ref(value)
    path = ref["genotype"]
    try:
        art = read_genotype(path)
        network = art.network.replace(**{k: ref.get(k) for k in OVERRIDES})
    except (ArtifactError, OSError, SpaceError) as exc:
        raise ArchRefError(f"architecture darts:{path}: {exc}") from exc
    if options.frames is not None and options.frames != network.clip_frames:
        raise ArchRefError(
            f"architecture darts:{path}: the network reads {network.segments} segments x "
            f"{network.frames_per_segment} frames = {network.clip_frames} frames per clip, but the training "
            f"settings ask for frames={options.frames}; set the model's settings.frames to {network.clip_frames}")
    searched_rate = art.search.get("config", {}).get("sample_rate")
    if options.sample_rate is not None and searched_rate is not None and options.sample_rate != searched_rate:
        # the cell was chosen for the motion between frames this far apart; another spacing retrains another task
        raise ArchRefError(
            f"architecture darts:{path}: the cell was searched on snippets of frames {searched_rate} apart "
            f"(sample_rate {searched_rate}), but the training settings ask for sample_rate={options.sample_rate}; set "
            f"the model's settings.sample_rate to {searched_rate}")
    dropout = float(ref.get("dropout", 0.0))
    if not 0.0 <= dropout < 1.0:
        raise ArchRefError(f"architecture darts:{path}: dropout must be in [0, 1), got {dropout}")
    search = art.search
    return {
        "kind": KIND,
        "genotype": art.genotype.to_dict(),
        "network": network.to_dict(),
        "dropout": dropout,
        "searched_classes": art.num_classes,
        # how the genotype was found, for the tables (the alphas are left in the artifact)
        "search": {k: search[k] for k in ("store", "split", "train_videos", "val_videos", "order",
                                                 "epochs", "seconds", "device", "val_acc")
                   if k in search},
        "clip_sampler": {"kind": SAMPLER, "segments": network.segments,
                         "frames_per_segment": network.frames_per_segment},
        "source": f"darts:{path}",
    }


def build_darts(record: dict[str, Any], num_classes: int) -> nn.Module:
    from e3d.darts.genotype import Genotype
    from e3d.darts.network import build_discrete_network
    from e3d.darts.space import NetworkConfig

    genotype = Genotype.from_dict(record["genotype"], where="model record genotype")
    network = NetworkConfig.from_dict(record["network"], where="model record network")
    return build_discrete_network(genotype, num_classes, network, dropout=float(record.get("dropout", 0.0)))


def segment_sampler(params: dict[str, Any]) -> SegmentSampler:
    try:
        return SegmentSampler(int(params["segments"]), int(params["frames_per_segment"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchRefError(f"segment clip sampler: bad parameters {params} ({exc!r})") from exc

