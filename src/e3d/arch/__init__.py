"""Architecture spec, built-in architectures, search space and analytic cost model."""

from e3d.arch.spec import ArchSpec, BlockSpec, ConvSpec, HeadSpec, LayerOverride, SpecError

__all__ = ["ArchSpec", "BlockSpec", "ConvSpec", "HeadSpec", "LayerOverride", "SpecError"]
