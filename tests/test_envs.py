"""The conda environment files must install exactly the pip requirements (same packages, same pins)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    return sorted(l.strip() for l in lines if l.strip() and not l.strip().startswith(("#", "-")))


def test_conda_envs_match_pip_requirements():
    for kind in ("cpu", "gpu"):
        req = pins((ROOT / "requirements" / f"{kind}.txt").read_text().splitlines())
        env = yaml.safe_load((ROOT / "envs" / f"{kind}.yaml").read_text())
        pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        assert pins(pip_section) == req, kind


def test_cpu_and_gpu_requirements_pin_the_same_versions():
    cpu = pins((ROOT / "requirements" / "cpu.txt").read_text().splitlines())
    gpu = pins((ROOT / "requirements" / "gpu.txt").read_text().splitlines())
    assert cpu == gpu


def test_pyproject_dependencies_are_all_pinned_in_requirements():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].lower() for d in deps}
    pinned = {p.split("==")[0].lower() for p in pins((ROOT / "requirements" / "cpu.txt").read_text().splitlines())}
    assert names <= pinned, names - pinned
