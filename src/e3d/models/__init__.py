"""PyTorch models built from an architecture spec (see e3d.models.builder)."""

from e3d.models.builder import VideoNet, build_model, effective_spec

__all__ = ["VideoNet", "build_model", "effective_spec"]
