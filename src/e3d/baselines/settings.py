"""The training-free baselines' settings (config `baselines`), declared once (e3d.settingspec).

`python -m e3d.schemagen --write` writes the section's schema (workflow/schemas/generated/baselines.schema.yaml)
from these fields; the `e3d baselines fig4 / fig3-sample / fig3-correlate` flags and the library functions'
defaults (e3d.baselines.fig4, e3d.baselines.correlation) are the same fields. No torch or pandas here: the workflow
reads it while Snakemake builds the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from e3d.arch.baselines import X3D_EXPANSIONS
from e3d.errors import E3DError
from e3d.score.registry import names as score_names
from e3d.settingspec import check_fields, setting

PAPER_CHANNELS = (16, 32, 64, 128)
PAPER_REPEATS = 1000
DEVICES = ("cpu", "cuda", "auto")
ACTIVATIONS = ("relu", "swish", "hswish")


class StudyError(E3DError, ValueError):
    """Settings or inputs the baseline studies cannot work with."""


def _enabled(what: str) -> dict[str, Any]:
    """The config-only `enabled` key of a study (whether the workflow builds it)."""
    return {"enabled": {"type": "boolean", "default": True, "description": f"build {what}"}}


@dataclass(frozen=True)
class Fig4Settings:
    """Figure 4: forward-inference entropy vs the analytic score on the three-layer network (`e3d baselines fig4`)."""

    channels: tuple[int, ...] = setting(PAPER_CHANNELS, items={"minimum": 1}, minItems=1,
                                        doc="widths C of the three-layer network")
    repeats: int = setting(PAPER_REPEATS, minimum=1, doc="evaluations per width (paper 1000)")
    batch_size: int = setting(1, minimum=1)
    device: str = setting("cpu", enum=list(DEVICES), doc="the paper times a CPU")
    threads: int = setting(1, minimum=0, doc="torch threads while timing (0 = as is)")

    def __post_init__(self) -> None:
        check_fields(self, StudyError, "fig4: ")


@dataclass(frozen=True)
class SampleConfig:
    """Figure 3, step 1: how the N architectures are sampled (`e3d baselines fig3-sample`)."""

    n: int = setting(8, minimum=3, doc="sampled architectures (paper 60)")
    gflops_min: float = setting(0.2, exclusiveMinimum=0)
    gflops_max: float = setting(5.0, exclusiveMinimum=0)
    resolution: int = setting(160, minimum=1, doc="input size the FLOPs bounds and scores use")
    frames: int = setting(13, minimum=1)
    max_layers: int = setting(83, minimum=17)
    template: str = setting("e3d-initial", doc="built-in initial structure the walks start from")
    max_walk: int = setting(40, minimum=1, doc="longest mutation walk from the initial structure")
    bins: int = setting(5, minimum=1, doc="bins that spread the sample (log-FLOPs, or STEntr with spread: stentr)")
    spread: str = setting("gflops", enum=["gflops", "stentr"],
                          doc="what the bins spread: gflops = log-FLOPs between the bounds (paper: 0.2-5 G); stentr "
                              "= STEntr at about equal FLOPs (a narrow FLOPs band): a pool of `pool` x n distinct "
                              "walks is scored and n models are taken at evenly spaced STEntr values")
    pool: int = setting(8, minimum=1, doc="with spread: stentr, the pool drawn is pool x n architectures")
    max_tries: int = setting(20000, minimum=1, doc="walks tried before giving up on finding N distinct models")
    seed: int = setting(0)

    def __post_init__(self) -> None:
        check_fields(self, StudyError, "fig3 sampling: ")
        if not self.gflops_min < self.gflops_max:
            raise StudyError(f"fig3 sampling: need 0 < gflops_min < gflops_max, got {self.gflops_min}, "
                             f"{self.gflops_max}")


# The SampleConfig fields the config's baselines.fig3 sets (template, max_tries: the library's; seed: config seed).
SAMPLE_KEYS = ("n", "gflops_min", "gflops_max", "resolution", "frames", "max_layers", "max_walk", "bins", "spread",
               "pool")


@dataclass(frozen=True)
class CorrelationSettings:
    """Figure 3, steps 1 and 3: the scores computed for every sampled model and their correlation with accuracy."""

    scores: tuple[str, ...] = setting(("stentr", "homoentr"), items={"enum": list(score_names())},
                                      doc="registered scores computed for every sampled model and correlated with "
                                          "accuracy")
    n_boot: int = setting(1000, minimum=10, doc="bootstrap resamples of each correlation's interval")
    confidence: float = setting(0.95, exclusiveMinimum=0, exclusiveMaximum=1, doc="bootstrap interval coverage")

    def __post_init__(self) -> None:
        check_fields(self, StudyError, "fig3: ")


@dataclass(frozen=True)
class Fig3Training:
    """How the workflow trains Figure 3's sampled models (config only)."""

    dataset: str | None = setting(None, doc="dataset the sampled models are trained on: a data.datasets name or a "
                                            "paper name (sthv1 = the dataset of that format); null = the first "
                                            "table dataset")
    settings: dict[str, Any] = setting(factory=lambda: {"epochs": 2},
                                       doc="the training schedule of its N models (train.settings keys, merged over "
                                           "train.settings)")


@dataclass(frozen=True)
class StudyModel:
    """How a study's models are built for training (as a `models` entry)."""

    se_ratio: float | None = setting(None, minimum=0)
    act: str | None = setting("relu", enum=[*ACTIVATIONS, None])


@dataclass(frozen=True)
class Table7Settings:
    """Table 7: searches with other training-free scores, run by the ordinary search rule (config only)."""

    scores: tuple[str, ...] = setting(("zen", "madet", "stentr"), items={"enum": list(score_names())}, minItems=1)
    base_run: str = setting("s", doc="the search run (search.runs) whose budget, input size and settings every "
                                     "Table 7 search shares")
    iterations: int = setting(200, minimum=1, doc="forward scores cost ~1 s per candidate")
    population: int | None = setting(None, minimum=1, doc="null = the base run's")
    score_options: dict[str, Any] = setting(factory=dict, doc="per-score options (batch_size, repeats, "
                                                              "stage_weights, gamma, device), keyed by score name")
    dataset: str | None = setting(None, doc="dataset the searched models are trained on (paper sthv1); null = the "
                                            "first table dataset")
    baseline_model: str | None = setting(None, doc="a model of `models` shown as the hand-designed row (paper "
                                                   "X3D-S): its architecture is trained again under this table's "
                                                   "schedule and seeds")
    settings: dict[str, Any] = setting(factory=dict, doc="the one training schedule of every Table 7 model "
                                                         "(train.settings keys over train.settings); {} = as any "
                                                         "other model")
    long_settings: dict[str, Any] | None = setting(
        None, doc="a second, longer schedule for the same comparison (train.settings keys over `settings`, e.g. "
                  "{epochs: 96}): models table7long-{entrant}-seed{k} and results/table7long_training_free_"
                  "{dataset}.csv, to see whether the ranking holds once the models reach a plateau (study.table7_long "
                  "puts it in `snakemake study` only); null = none")
    seeds: tuple[int, ...] = setting((0,), items={"minimum": 0}, minItems=1, uniqueItems=True,
                                     doc="training seeds: every Table 7 model is trained once per seed and the "
                                         "table shows the mean and range")
    x3d: tuple[str, ...] = setting((), items={"enum": list(X3D_EXPANSIONS)}, uniqueItems=True,
                                   doc="X3D-S contracted to the base run's budget at its input by X3D's own "
                                       "expansion axes, one row per entry: width (gamma_w), depth (gamma_d) or "
                                       "both (one common factor)")
    random: int = setting(0, minimum=0, doc="architectures sampled at random (random mutation walks of the search "
                                            "space) within the base run's budget and layer cap: 0 or at least 3")
    random_min_fraction: float = setting(0.8, exclusiveMinimum=0, maximum=1,
                                         doc="the random architectures' FLOPs lie in [fraction x budget, budget]")


ENABLED = {"fig4": _enabled("Figure 4"), "fig3": _enabled("Figure 3"), "table7": _enabled("Table 7")}
