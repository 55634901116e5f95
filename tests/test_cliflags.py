"""e3d.cliflags: the one builder of the workflow's `e3d` command lines; what it writes parses back to the values."""

import argparse
import json
import shlex

from e3d.cliflags import quote_value, to_flags


def test_keys_become_dashed_flags_in_the_given_or_sorted_order():
    assert to_flags({"b": 1, "a_b": 2}) == "--b 1 --a-b 2"
    assert to_flags({"b": 1, "a_b": 2}, sort=True) == "--a-b 2 --b 1"


def test_values_with_spaces_and_shell_characters_are_quoted():
    line = to_flags({"root": "/data/my videos", "name": "a;rm -rf x", "q": "it's"})
    assert shlex.split(line) == ["--root", "/data/my videos", "--name", "a;rm -rf x", "--q", "it's"]
    assert to_flags({"root": "/plain/path"}) == "--root /plain/path"  # nothing to quote: unchanged


def test_none_is_left_out_and_bools_are_switches():
    assert to_flags({"a": None, "quiet": True, "verbose": False, "n": 0}) == "--quiet --n 0"


def test_lists_join_with_commas_and_dicts_are_sorted_json():
    assert to_flags({"channels": [16, 32], "scores": ("zen", "madet")}) == "--channels 16,32 --scores zen,madet"
    line = to_flags({"settings": {"b": [1, 2], "a": "x y"}})
    assert line == """--settings '{"a": "x y", "b": [1, 2]}'"""
    assert json.loads(shlex.split(line)[1]) == {"a": "x y", "b": [1, 2]}


def test_pairs_may_repeat_a_flag():
    assert to_flags([("input", "a=x y"), ("input", "b=z")]) == "--input 'a=x y' --input b=z"


def test_quote_value_is_the_same_quoting():
    assert quote_value({"x": 1}) == """'{"x": 1}'""" and quote_value("a b") == "'a b'" and quote_value(3) == "3"


def test_a_command_line_parses_back_to_the_values():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--name")
    parser.add_argument("--channels", type=lambda s: [int(c) for c in s.split(",")])
    parser.add_argument("--options", type=json.loads)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    values = {"lr": 0.025, "name": "run one", "channels": [16, 32], "options": {"device": "cpu"}, "quiet": True,
              "seed": None}
    args = parser.parse_args(shlex.split(to_flags(values)))
    assert (args.lr, args.name, args.channels, args.options, args.quiet, args.seed) == \
        (0.025, "run one", [16, 32], {"device": "cpu"}, True, 7)
