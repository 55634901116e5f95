"""resolve_spec and the authors' structure format."""

import json

import pytest

from e3d.arch.authors_format import dumps_authors, loads_authors, spec_to_authors
from e3d.arch.builtins import builtin_names, get_builtin
from e3d.arch.resolve import resolve_spec
from e3d.arch.spec import SpecError

AUTHORS_E3D_S = """{'best_structures': [[
 {'class': 'Conv3DKXBNRELU', 'in': 3, 'out': 24, 's': 2, 'kt': 1, 'k': 3},
 {'class': 'SuperRes3DK1DWK1', 'in': 24, 'out': 24, 'btn': 32, 's': 2, 'kt': 1, 'k': 5, 'L': 3},
 {'class': 'SuperRes3DK1DWK1', 'in': 24, 'out': 48, 'btn': 96, 's': 2, 'kt': 3, 'k': 3, 'L': 6},
 {'class': 'SuperRes3DK1DWK1', 'in': 48, 'out': 120, 'btn': 176, 's': 2, 'kt': 3, 'k': 3, 'L': 6},
 {'class': 'SuperRes3DK1DWK1', 'in': 120, 'out': 120, 'btn': 176, 's': 1, 'kt': 3, 'k': 3, 'L': 6},
 {'class': 'SuperRes3DK1DWK1', 'in': 120, 'out': 256, 'btn': 384, 's': 2, 'kt': 3, 'k': 3, 'L': 6},
 {'class': 'Conv3DKXBNRELU', 'in': 256, 'out': 512, 's': 1, 'kt': 1, 'k': 1}]],
 'space_arch': 'CnnNet'}
"""


def _same_structure(a, b):
    return (a.stem, a.blocks, a.final) == (b.stem, b.blocks, b.final)


def test_authors_e3d_s_imports_as_the_builtin(tmp_path):
    p = tmp_path / "e3d_s.txt"
    p.write_text(AUTHORS_E3D_S)
    spec = resolve_spec(str(p))
    assert _same_structure(spec, get_builtin("e3d-s"))
    assert spec.name == "e3d_s"


@pytest.mark.parametrize("name", ["e3d-s", "e3d-m", "e3d-l", "e3d-initial"])
def test_round_trip(name):
    spec = get_builtin(name)
    back = loads_authors(dumps_authors(spec))
    assert _same_structure(back, spec) and (back.resolution, back.frames) == (spec.resolution, spec.frames)


def test_builtin_names_and_json_files(tmp_path):
    for name in builtin_names():
        assert resolve_spec(name.upper()).name == name
    p = tmp_path / "x.json"
    p.write_text(get_builtin("x3d-m").to_json())
    assert resolve_spec(str(p)) == get_builtin("x3d-m")


def test_export_refuses_what_the_authors_cannot_express():
    with pytest.raises(SpecError, match="cannot express"):
        spec_to_authors(get_builtin("movinet-a0"))
    with pytest.raises(SpecError):
        spec_to_authors(get_builtin("x3d-s"))


def test_clear_errors(tmp_path):
    with pytest.raises(SpecError, match="neither a built-in"):
        resolve_spec("e3d-xxl")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"name": "x", "stem": {"out": 8}')
    with pytest.raises(SpecError, match="bad.json"):
        resolve_spec(str(bad_json))
    wrong = tmp_path / "wrong.json"
    d = get_builtin("e3d-s").to_dict()
    d["blocks"][0]["kernel"] = [2, 3, 3]
    wrong.write_text(json.dumps(d))
    with pytest.raises(SpecError, match=r"wrong.json.*odd"):
        resolve_spec(str(wrong))
    broken = tmp_path / "broken.txt"
    broken.write_text(AUTHORS_E3D_S.replace("'in': 48, 'out': 120", "'in': 40, 'out': 120"))
    with pytest.raises(SpecError, match=r"broken.txt\[3\].in"):
        resolve_spec(str(broken))
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("best_structures SuperRes3DK1DWK1 = [")
    with pytest.raises(SpecError, match="garbage.txt"):
        resolve_spec(str(garbage))


def test_resolves_the_spec_inside_our_artifacts(tmp_path):
    from e3d.arch.builtins import get_builtin
    from e3d.arch.options import effective_spec
    from e3d.arch.resolve import resolve_spec
    from e3d.artifacts import Provenance, write_json

    spec = get_builtin("e3d-s")
    prov = Provenance.make("e3d.search.arch", 1, {}, ())
    search = write_json(tmp_path / "arch.json", {"spec": spec.to_dict(), "score": 1.0}, prov)
    assert resolve_spec(str(search)) == spec
    record = {"kind": "spec", "spec": spec.to_dict(), "build_options": {"se_ratio": 0.0625, "act": "swish"}}
    trained = write_json(tmp_path / "model.json", {"record": record, "num_classes": 3},
                         Provenance.make("model_record", 1, {}, ()))
    got = resolve_spec(str(trained))
    assert got == effective_spec(spec, se_ratio=0.0625, act="swish") and got != spec
    assert got.blocks[0].se_pattern == "all"


def test_table1_variants_are_trainable_model_references():
    from e3d.arch.variants import kernel_placement_variants
    from e3d.train import model_source as ms

    record = ms.resolve("variant:T-3", ms.ModelOptions(frames=4, resolution=32))
    expected = kernel_placement_variants(get_builtin("x3d-s"))["T-3"].with_input(resolution=32, frames=4)
    assert ms.spec_of(record) == expected and ms.spec_of(ms.resolve("variant:x3d-s/T-3")).name == "x3d-s-T-3"
    kernels = [tuple(b.kernel) for b in ms.spec_of(record).blocks]
    assert kernels == [(1, 5, 5), (3, 3, 3), (1, 5, 5), (1, 5, 5), (1, 5, 5)]  # only stage 3 spatio-temporal
    with pytest.raises(ms.ArchRefError, match="no variant 'Q-9'"):
        ms.resolve("variant:Q-9")


def test_spec_commands_take_the_train_commands_references(tmp_path, repo_root):
    """`e3d score spec:FILE` / `builtin:NAME` / `search:ARCH.json` resolve like `e3d train --arch` does."""
    spec_file = repo_root / "config" / "archs" / "e3d-initial-t3.json"
    assert _same_structure(resolve_spec(f"spec:{spec_file}"), resolve_spec(str(spec_file)))
    assert _same_structure(resolve_spec("builtin:X3D-S"), get_builtin("x3d-s"))
    from e3d.train import model_source as ms

    assert resolve_spec("variant:T-3") == ms.spec_of(ms.resolve("variant:T-3"))
    search_result = tmp_path / "arch.json"
    search_result.write_text(json.dumps({"provenance": {}, "spec": get_builtin("e3d-s").to_dict()}))
    assert _same_structure(resolve_spec(f"search:{search_result}"), get_builtin("e3d-s"))


@pytest.mark.parametrize("ref, message", [
    ("darts:synthetic", "darts: is not a reference kind this command takes"),
    ("sgs:x", "sgs: is not a reference kind this command takes"),
    ("builtin:no-such-net", "no such built-in"),
    ("spec:missing.json", "spec:missing.json: no such file"),
    ("spec:", "names nothing"),
    ("variant:Q-9", "no variant 'Q-9'"),
])
def test_bad_references_name_the_problem(ref, message):
    with pytest.raises(SpecError, match=message):
        resolve_spec(ref)


def test_score_command_takes_a_spec_reference(repo_root, cli_env):
    import subprocess
    import sys

    spec_file = repo_root / "config" / "archs" / "e3d-initial-t3.json"
    out = subprocess.run([sys.executable, "-m", "e3d.cli", "score", f"spec:{spec_file}"], capture_output=True,
                         text=True, env=cli_env, check=True).stdout
    assert json.loads(out)["name"] == resolve_spec(str(spec_file)).name
