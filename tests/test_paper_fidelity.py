"""Paper-fidelity choices of the paper config: merge rule, initial structures, head dropout, SGS placement."""

from __future__ import annotations

import shlex

import pytest
import torch
from torch import nn

from e3d.arch.builtins import get_builtin
from e3d.config import load_config
from e3d.search.engine import SearchConfig
from e3d.search.workflow import search_cli_args


def test_merge_interval_defaults_to_the_population_size():
    cfg = SearchConfig(max_layers=83, resolution=160, frames=13, iterations=10, population=96, seed=0,
                       budget_gflops=1.9)
    assert cfg.sync_every == 96
    assert SearchConfig(**{**cfg.__dict__, "sync_every": 7}).sync_every == 7


def test_paper_config_searches_merge_after_population_steps_and_search_l_under_18_4(repo_root):
    config = load_config(repo_root / "config/config.yaml", repo_root / "config/paper.yaml")
    search = config["search"]
    assert search["sync_every"] is None
    for run in ("s", "m", "l"):
        flags = shlex.split(search_cli_args(search, run))
        assert flags[flags.index("--sync-every") + 1] == str(search["runs"][run]["population"]) == "256"
    assert search["runs"]["l"]["budget_gflops"] == 18.4
    from e3d.arch.cost import cost

    # the released E3D-L must fit its own budget
    assert cost(get_builtin("e3d-l")).gflops <= 18.4 < 18.35 + 0.1


def test_table8_initial_structure_differs_only_in_the_first_kernel():
    authors, table8 = get_builtin("e3d-initial"), get_builtin("e3d-initial-table8")
    assert authors.blocks[0].kernel == (1, 5, 5) and table8.blocks[0].kernel == (3, 3, 3)
    assert [b.__dict__ for b in authors.blocks[1:]] == [b.__dict__ for b in table8.blocks[1:]]
    assert [(b.out, b.btn, b.stride, b.layers) for b in authors.blocks] == \
           [(b.out, b.btn, b.stride, b.layers) for b in table8.blocks]


def test_head_dropout_follows_each_family_and_can_be_set():
    from e3d.models import build_model
    from e3d.train.model_source import ModelOptions, build, resolve

    assert get_builtin("e3d-s").head.dropout == 0.2  # the authors' deploy code
    assert get_builtin("x3d-s").head.dropout == 0.5  # X3D's own
    model = build(resolve("builtin:e3d-s", ModelOptions(frames=4, resolution=32, dropout=0.35)), 5)
    assert model.head.dropout.p == 0.35
    assert build_model(get_builtin("x3d-s"), 5).head.dropout.p == 0.5
    from e3d.arch.spec import SpecError

    with pytest.raises(SpecError, match="dropout"):
        get_builtin("e3d-s").with_head_dropout(1.0)


class _Recorder(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x


@pytest.mark.parametrize("stage", [-1, 0, 2])
def test_temporal_module_before_the_activation_sees_the_pre_activation(stage, one_torch_thread):
    from e3d.models import build_model

    spec = get_builtin("e3d-initial").with_input(resolution=32, frames=4)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 32, 32)
    outs = {}
    for before in (False, True):
        rec: dict[str, _Recorder] = {}

        def factory(c, rec=rec):
            rec["m"] = _Recorder(c)
            return rec["m"]

        torch.manual_seed(1)
        model = build_model(spec, 3, temporal_modules={stage: factory},
                            temporal_before_act=(stage,) if before else ()).eval()
        with torch.no_grad():
            outs[before] = model(x)
        seen = rec["m"].seen[0]
        # the stage ends with a ReLU: after it nothing is negative, before it much is
        assert (seen.min() < 0) == before
    # an identity module in either place computes the same network
    torch.testing.assert_close(outs[False], outs[True])


def test_sgs_goes_before_the_activation_by_default_as_the_authors_place_it(one_torch_thread):
    from e3d.sgs.config import SGSConfig, SGSConfigError
    from e3d.sgs.network import build_sgs_model

    assert SGSConfig().placement == "before_act"
    spec = get_builtin("e3d-initial").with_input(resolution=32, frames=4)
    assert build_sgs_model(spec, 3, {}).temporal_before_act == frozenset({"0"})
    assert build_sgs_model(spec, 3, {"placement": "after_act"}).temporal_before_act == frozenset()
    with pytest.raises(SGSConfigError, match="placement"):
        SGSConfig(placement="inside")


def test_test_protocol_layers_dataset_and_model_overrides(repo_root):
    from e3d.evaluate.protocol import protocol_flags, test_protocol

    config = load_config(repo_root / "config/config.yaml", repo_root / "config/paper.yaml")
    e = config["evaluate"]
    k400 = {m: test_protocol(e, "kinetics400", m) for m in ("e3d-m", "x3d-s", "x3d-m", "x3d-l")}
    assert k400["e3d-m"] == {"views": "lcr", "clips": 10, "crop": None, "spacing": "pyslowfast"}
    assert [k400[m]["crop"] for m in ("x3d-s", "x3d-m", "x3d-l")] == [182, 256, 356]  # X3D's test crops
    assert test_protocol(e, "sthv1", "x3d-m") == {"views": "center", "clips": 1, "crop": None,
                                                 "spacing": "pyslowfast_offset"}
    assert test_protocol(e, "sthv2", "e3d-s")["views"] == "lcr" and test_protocol(e, "sthv2", "e3d-s")["clips"] == 2
    assert protocol_flags(k400["x3d-m"]) == "--views lcr --clips 10 --spacing pyslowfast --crop 256"
    # the embedded default keeps one protocol for everything
    default = load_config(repo_root / "config/config.yaml")["evaluate"]
    assert test_protocol(default, "synthetic", "e3d-initial-t3") == {"views": "center", "clips": 1, "crop": None,
                                                                      "spacing": "pyslowfast"}
