"""The model-kind table (e3d.model_kinds), its reference parser and the file layout (e3d.layout): every declared
function and module exists, and the modules the rule files import stay free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e3d import provenance
from e3d.layout import Layout
from e3d.model_kinds import MODEL_KINDS, REFERENCE_KINDS, load, parse_reference, undeclared_kind


@pytest.mark.parametrize("kind", MODEL_KINDS, ids=lambda k: k.name)
def test_every_declared_function_and_module_exists(kind):
    targets = [*kind.resolvers.values(), kind.builder, *kind.samplers.values(), *kind.workflow_refs.values()]
    if kind.entry_block:
        targets.append(kind.entry_block[1])
    assert all(callable(load(t)) for t in targets)
    assert set(kind.workflow_refs) <= set(kind.resolvers)  # a config reference is one `e3d train` takes too
    for module in kind.code:
        path = provenance.PACKAGE_ROOT / module
        assert path.is_dir() or path.with_suffix(".py").is_file() or path.is_file(), module


def test_the_train_and_evaluate_digests_cover_every_kinds_code():
    for stage in ("train", "evaluate"):
        assert {m for kind in MODEL_KINDS for m in kind.code} <= set(provenance.STAGE_MODULES[stage])


def test_model_source_tables_are_the_declared_kinds():
    from e3d.train import model_source as ms

    ms.resolve("builtin:x3d-s")  # fills the tables
    assert set(REFERENCE_KINDS) <= set(ms.RESOLVERS)
    assert {k.name for k in MODEL_KINDS} <= set(ms.BUILDERS)
    assert {s for k in MODEL_KINDS for s in k.samplers} <= set(ms.CLIP_SAMPLERS)


@pytest.mark.parametrize("text, parsed", [
    ("builtin:x3d-s", ("builtin", "x3d-s")),
    ("search:work/search/s/arch.json", ("search", "work/search/s/arch.json")),
    ('sgs:{"base": "builtin:x3d-s", "sgs": {}}', ("sgs", '{"base": "builtin:x3d-s", "sgs": {}}')),
    ("x3d-s", (None, "x3d-s")),
    ("C:/nets/x.json", (None, "C:/nets/x.json")),
    ("serach:s", (None, "serach:s")),
])
def test_one_parser_reads_every_reference(text, parsed):
    assert parse_reference(text) == parsed


def test_undeclared_kinds_are_named():
    assert undeclared_kind("serach:s") == "serach"
    assert undeclared_kind("search:s") is None and undeclared_kind("x3d-s") is None


def test_layout_patterns_are_the_rule_files_paths():
    layout = Layout("work", "results", "logs")
    assert layout.eval_metrics("{dataset}", "{model}", "{eval_kind}") == \
        "work/eval/{dataset}/{model}/{eval_kind}.metrics.json"
    assert layout.eval_metrics("k400", "e3d-s") == "work/eval/k400/e3d-s/multiview.metrics.json"
    assert layout.train_file("k400", "e3d-s", "model.pt") == "work/train/k400/e3d-s/model.pt"
    assert layout.profile("k400", "e3d-s") == "work/profile/k400/e3d-s/profile.json"
    assert layout.search_benchmark("s") == "logs/search/s.benchmark.tsv"
    assert layout.frames_shard("k400", 3) == "work/data/k400/frames/shard-00003.parquet"
    assert layout.result("table3_k400", "meta.json") == "results/table3_k400.meta.json"


def test_modules_the_rule_files_import_do_not_import_torch():
    code = ("import sys, e3d.layout, e3d.model_kinds, e3d.provenance, e3d.train.workflow, e3d.darts.workflow, "
            "e3d.sgs.workflow, e3d.tables.workflow; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
