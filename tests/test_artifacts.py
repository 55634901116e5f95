import json
import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from e3d.artifacts import (
    ArtifactError,
    Provenance,
    atomic_path,
    read_json,
    read_parquet,
    read_parquet_provenance,
    write_json,
    write_parquet,
)


def prov(**kw):
    return Provenance.make("test.kind", 1, {"a": 1}, ("artifacts.py",), **kw)


def test_json_roundtrip_carries_provenance(tmp_path):
    p = write_json(tmp_path / "x.json", {"value": 3}, prov())
    doc = read_json(p, schema="test.kind", max_version=1)
    assert doc["value"] == 3
    pv = doc["provenance"]
    assert pv["schema_version"] == 1 and pv["package_version"] and len(pv["config_digest"]) == 16
    assert len(pv["code_digest"]) == 16 and pv["created_at"].endswith("+00:00")


def test_parquet_roundtrip_and_kind_check(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    p = write_parquet(tmp_path / "t.parquet", df, prov())
    assert read_parquet(p, schema="test.kind").equals(df)
    assert read_parquet_provenance(p)["schema"] == "test.kind"
    with pytest.raises(ArtifactError, match="expected a 'other' artifact"):
        read_parquet(p, schema="other")
    with pytest.raises(ArtifactError, match="newer than"):
        write_parquet(p, df, Provenance.make("test.kind", 5, {}, ()))
        read_parquet(p, schema="test.kind", max_version=1)


def test_config_digest_ignores_key_order():
    a = Provenance.make("k", 1, {"x": 1, "y": 2}, ())
    b = Provenance.make("k", 1, {"y": 2, "x": 1}, ())
    assert a.config_digest == b.config_digest


def test_failed_write_leaves_previous_artifact_intact(tmp_path):
    target = tmp_path / "keep.json"
    write_json(target, {"v": 1}, prov())
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert read_json(target)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_killed_writer_never_leaves_a_partial_artifact(tmp_path):
    target = tmp_path / "big.parquet"
    script = textwrap.dedent(
        f"""
        import os, signal, pandas as pd
        from e3d.artifacts import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": "src"})
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()


def test_unreadable_artifacts_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ArtifactError, match="bad.json"):
        read_json(bad)
    with pytest.raises(ArtifactError, match="does not exist"):
        read_json(tmp_path / "missing.json")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 nope")
    with pytest.raises(ArtifactError, match="junk.parquet"):
        read_parquet(junk)
    json.loads(json.dumps({}))
