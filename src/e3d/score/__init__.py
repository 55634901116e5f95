"""Training-free architecture scores: HomoEntr and STEntr (the E3D paper's entropy scores)."""

from e3d.score.entropy import SCORES, LayerTerm, ParallelKernelError, ScoreResult, refinement_alpha, score_spec

__all__ = ["SCORES", "LayerTerm", "ParallelKernelError", "ScoreResult", "refinement_alpha", "score_spec"]
