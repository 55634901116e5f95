"""Resumable training state: written atomically, loadable with torch.load(weights_only=True).

Everything saved is tensors, numbers, strings, lists and dicts (no pickled classes), so loading a
checkpoint never executes code. The state dir is kept outside the rule's declared outputs: Snakemake
deletes declared outputs before rerunning a job, and the state must survive that to resume.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e3d.artifacts import write_bytes_atomic
from e3d.errors import E3DError
from e3d.models.checkpoints import CheckpointFileError, read_weights_only

CHECKPOINT_VERSION = 1
LAST = "last.pt"


class CheckpointError(E3DError):
    """A checkpoint that cannot be read or belongs to another run."""


def save(path: str | Path, state: dict[str, Any]) -> Path:
    buf = io.BytesIO()
    torch.save({"checkpoint_version": CHECKPOINT_VERSION, **state}, buf)
    return write_bytes_atomic(path, buf.getvalue())


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        state = read_weights_only(path, "checkpoint")
    except CheckpointFileError as exc:  # the one weights-only reader, whose refusal gives no weights_only=False advice
        raise CheckpointError(str(exc)) from None
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: not an e3d checkpoint of version {CHECKPOINT_VERSION}")
    return state


def rng_state() -> dict[str, Any]:
    """Global RNG states (dropout and anything else drawing from them); per-sample augmentation
    randomness is derived from (seed, epoch, position) and needs no saving."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
