import dataclasses
import json
import math
import subprocess
import sys

import pytest

from e3d.arch.builtins import e3d_l, e3d_m, e3d_s
from e3d.errors import E3DError
from e3d.score.entropy import refinement_alpha, score_spec

LN512 = math.log(512)


def test_e3d_s_stentr_is_the_papers_202_86():
    r = score_spec(e3d_s(), "stentr", 160, 13)
    assert r.valid
    assert r.score == pytest.approx(202.8559, abs=5e-5)


def test_reference_variants_of_the_formula():
    r = score_spec(e3d_s(), "stentr", 160, 13)
    terms = [t.term for t in r.layers]
    assert len(terms) == 2 + 3 + 6 * 4  # stem, 27 bottleneck layers, final
    assert math.fsum(terms) + LN512 == pytest.approx(r.score, abs=1e-9)
    assert 2 * math.fsum(terms) + LN512 == pytest.approx(399.47, abs=0.01)  # without the 1/2 factor
    assert math.fsum(terms) == pytest.approx(196.62, abs=0.01)  # without + ln 512


def test_homoentr_is_alpha_one_everywhere():
    spec = e3d_s()
    r = score_spec(spec, "homoentr", 160, 13)
    expected = 0.5 * math.log(3 * 9)
    c_in = spec.stem.out
    for b in spec.blocks:
        kv = b.kernel[0] * b.kernel[1] * b.kernel[2]
        for i in range(b.layers):
            expected += 0.5 * math.log((c_in if i == 0 else b.out) * kv * b.btn)
        c_in = b.out
    expected += 0.5 * math.log(c_in) + LN512
    assert r.score == pytest.approx(expected, abs=1e-9)
    assert all(t.alpha == 1.0 for t in r.layers)
    # HomoEntr ignores the input size
    assert score_spec(spec, "homoentr", 312, 16).score == pytest.approx(r.score, abs=1e-12)


def test_alpha_is_one_for_spatial_kernel_one_and_matches_cosine_otherwise():
    assert refinement_alpha(13, 40, 3, 1) == 1.0
    assert refinement_alpha(13, 40, 1, 1) == 1.0
    s, k = [13, 40, 40], [3, 3, 3]
    cos = sum(a * b for a, b in zip(s, k)) / math.dist(s, [0] * 3) / math.dist(k, [0] * 3)
    assert refinement_alpha(13, 40, 3, 3) == pytest.approx(-math.log(1 - cos), rel=1e-12)


def test_parallel_kernel_makes_the_score_invalid_not_infinite():
    assert math.isinf(refinement_alpha(16, 16, 3, 3))
    assert math.isinf(refinement_alpha(16, 80, 1, 5))  # [16,80,80] is parallel to [1,5,5]
    # E3D-S at 20 frames: block 1 (output 20 x 20) sees S = [20, 20, 20] against K = [3, 3, 3]
    r = score_spec(e3d_s(), "stentr", 160, 20)
    assert not r.valid and r.score is None
    assert "blocks[1].layer[0]" in r.reason and "parallel" in r.reason
    d = r.to_dict(per_layer=True)
    json.dumps(d, allow_nan=False)  # no inf/NaN leaks into JSON
    clamped = score_spec(e3d_s(), "stentr", 160, 20, on_parallel="clamp")
    assert clamped.valid and math.isfinite(clamped.score)
    assert max(t.alpha for t in clamped.layers) == pytest.approx(-math.log(1e-9))
    # HomoEntr has no alpha, so it stays defined
    assert score_spec(e3d_s(), "homoentr", 160, 20).valid


def test_authors_fixed_160_quirk_is_an_explicit_option():
    spec = e3d_m()
    own = score_spec(spec, "stentr", 224, 16)
    quirk = score_spec(spec, "stentr", 224, 16, alpha_resolution=160)
    assert own.valid and quirk.valid and own.score != pytest.approx(quirk.score, abs=1e-6)
    assert quirk.score == pytest.approx(score_spec(spec, "stentr", 160, 16).score, abs=1e-12)
    assert own.layers[0].feature == (16, 112, 112)


def test_authors_integer_truncation_of_sizes():
    r = score_spec(e3d_l(), "stentr", 312, 16)
    sizes = [t.feature[1] for t in r.layers]
    assert sizes[0] == 156 and sizes[-1] == 9  # 312 -> 156 -> 78 -> 39 -> int(19.5) = 19 -> 19 -> int(9.5) = 9
    assert 19 in sizes and 20 not in sizes and 10 not in sizes


def test_bad_score_name_and_bad_input_size():
    with pytest.raises(E3DError, match="unknown score"):
        score_spec(e3d_s(), "zen")
    with pytest.raises(E3DError, match="positive"):
        score_spec(e3d_s(), "stentr", 0, 13)


def test_temporal_depthwise_stem_term():
    spec = e3d_s()
    x = dataclasses.replace(spec, stem=dataclasses.replace(spec.stem, temporal_dw=5))
    assert score_spec(x).score == pytest.approx(score_spec(spec).score + 0.5 * math.log(5), abs=1e-9)


def _e3d(cli_env, *args):
    return subprocess.run([sys.executable, "-m", "e3d.cli", *args], capture_output=True, text=True, env=cli_env,
                          timeout=120)


def test_cli_score(cli_env, tmp_path):
    p = _e3d(cli_env, "score", "e3d-s")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["score"] == pytest.approx(202.8559, abs=5e-5)
    assert d["gflops"] == pytest.approx(1.87, abs=0.01)
    assert (d["resolution"], d["frames"], d["layers"]) == (160, 13, 83)
    assert d["params"] > 3_000_000
    p = _e3d(cli_env, "score", "e3d-s", "--score", "homoentr", "--per-layer", "--resolution", "224", "--frames", "16")
    d = json.loads(p.stdout)
    assert len(d["per_layer"]) == 29 and d["resolution"] == 224
    spec_file = tmp_path / "s.json"
    spec_file.write_text(e3d_s().to_json())
    assert json.loads(_e3d(cli_env, "score", str(spec_file)).stdout)["score"] == pytest.approx(202.8559, abs=5e-5)


def test_cli_score_errors_are_one_line(cli_env, tmp_path):
    p = _e3d(cli_env, "score", "no-such-net")
    assert p.returncode == 2 and "no-such-net" in p.stderr and "Traceback" not in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "stem": {"out": 24}, "blocks": []}')
    p = _e3d(cli_env, "score", str(bad))
    assert p.returncode == 2 and "bad.json" in p.stderr and "spec.final" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
