import pytest
import yaml

from e3d.config import ConfigError, REPO_ROOT, load_config, validate_config


def test_default_config_validates_and_fills_defaults():
    cfg = load_config(REPO_ROOT / "config" / "config.yaml")
    assert cfg["work_dir"] == "work"
    assert isinstance(cfg["data"], dict)


def test_missing_keys_get_defaults():
    cfg = validate_config({})
    assert cfg["results_dir"] == "results" and cfg["seed"] == 0


def test_typo_names_the_key_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['sed'\] \(did you mean 'seed'\?\)"):
        validate_config({"sed": 1})


def test_wrong_type_names_the_key_and_expected_type():
    with pytest.raises(ConfigError, match="config key seed: expected integer, got 'zero'"):
        validate_config({"seed": "zero"})


def test_non_mapping_config_file_is_rejected(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)
