"""Published X3D checkpoints as `init:` weights (e3d.models.checkpoints): logits parity with pytorchvideo's create_x3d
in pytorchvideo's and PySlowFast's layouts, head re-initialisation, and bad files refused with nothing loaded.

pytorchvideo 0.1.5 (PyPI, a test dependency) imports `torchvision.ops.RoIAlign` in pytorchvideo/models/head.py when
pytorchvideo.models is imported; X3D never uses it, and torchvision is no dependency of ours (its PyPI wheels are
built against another torch), so `_create_x3d` puts a stand-in `torchvision.ops` in sys.modules for that one import
when torchvision is absent and removes it afterwards.

PySlowFast is not on PyPI, so the PySlowFast-layout file is pytorchvideo's state dict renamed with `SLOWFAST_NAMES`, a
map written from SlowFast's own code (slowfast/models/video_model_builder.py X3D: modules s1..s5 and head;
stem_helper.py X3DStem: pathway0_stem.conv_xy (1x3x3), .conv (5x1x1 depthwise), .bn; resnet_helper.py ResStage
pathway0_res{i}, ResBlock branch1/branch1_bn/branch2, X3DTransform a, a_bn, b, b_bn, se.fc1, se.fc2, c, c_bn;
head_helper.py X3DHead conv_5, conv_5_bn, lin_5 (a 1x1x1 conv), projection), independently of the loader's own map.
PySlowFast's ResBlock has a BN on every projection shortcut, pytorchvideo's not on the first stage's (24 -> 24, stride
2), so the PySlowFast reference is pytorchvideo's network with that BN put back (`branch1_norm`, which pytorchvideo's
ResBlock applies when set): exactly PySlowFast's X3D.

Logits are compared before the head's activation (create_x3d(head_activation=None); PySlowFast's head applies a
softmax in eval mode), in eval mode, within 1e-5.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import types

import pytest
import torch
from torch import nn

from e3d.arch.builtins import get_builtin
from e3d.models import build_model
from e3d.models.checkpoints import CheckpointFileError, InitError, load_init

SIZES = {"x3d-s": (4, 64), "x3d-m": (4, 96)}  # (frames, crop): small inputs, same networks


def _create_x3d(frames: int, crop: int, classes: int = 400) -> nn.Module:
    stub = None
    if importlib.util.find_spec("torchvision") is None:
        stub = types.ModuleType("torchvision")
        stub.ops = types.ModuleType("torchvision.ops")

        class RoIAlign(nn.Module):  # detection heads only
            def __init__(self, *a, **k):
                raise RuntimeError("torchvision stand-in: RoIAlign is not available")

        stub.ops.RoIAlign = RoIAlign
        sys.modules.update({"torchvision": stub, "torchvision.ops": stub.ops})
    try:
        from pytorchvideo.models.x3d import create_x3d
    finally:
        if stub is not None:
            del sys.modules["torchvision"], sys.modules["torchvision.ops"]
    # X3D-S/M: depth factor 2.2 (pytorchvideo's hub x3d_s / x3d_m); the head pools the whole frames x crop/32 map
    return create_x3d(input_clip_length=frames, input_crop_size=crop, depth_factor=2.2, model_num_class=classes,
                      head_activation=None)


def _randomise(model: nn.Module, frames: int, crop: int, seed: int = 0) -> nn.Module:
    """Random weights, BN affine terms and biases, and BN statistics measured on a random batch (as a trained
    network's are: activations stay at scale ~1, logits too), so that anything mapped to the wrong place changes
    the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.momentum = 1.0  # running statistics := this batch's
            elif isinstance(m, (nn.Conv3d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        model.train()(torch.randn(4, 3, frames, crop, crop, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.momentum = 0.1
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))
    return model.eval()


def _slowfast_reference(frames: int, crop: int, classes: int = 400) -> nn.Module:
    model = _create_x3d(frames, crop, classes)
    first = model.blocks[1].res_blocks[0]
    assert first.branch1_norm is None  # pytorchvideo: no BN on a shortcut that only strides
    first.branch1_norm = nn.BatchNorm3d(first.branch1_conv.out_channels)
    return _randomise(model, frames, crop, seed=1)


SLOWFAST_NAMES = [  # pytorchvideo -> PySlowFast, from SlowFast's code (see the module docstring)
    (r"^blocks\.0\.conv\.conv_t\.", "s1.pathway0_stem.conv_xy."),
    (r"^blocks\.0\.conv\.conv_xy\.", "s1.pathway0_stem.conv."),
    (r"^blocks\.0\.norm\.", "s1.pathway0_stem.bn."),
    (r"^blocks\.5\.pool\.pre_conv\.", "head.conv_5."),
    (r"^blocks\.5\.pool\.pre_norm\.", "head.conv_5_bn."),
    (r"^blocks\.5\.pool\.post_conv\.", "head.lin_5."),
    (r"^blocks\.5\.proj\.", "head.projection."),
    (r"^blocks\.([1-4])\.res_blocks\.(\d+)\.", lambda m: f"s{int(m[1]) + 1}.pathway0_res{m[2]}."),
    (r"\.branch1_conv\.", ".branch1."), (r"\.branch1_norm\.", ".branch1_bn."),
    (r"\.branch2\.conv_a\.", ".branch2.a."), (r"\.branch2\.norm_a\.", ".branch2.a_bn."),
    (r"\.branch2\.conv_b\.", ".branch2.b."), (r"\.branch2\.norm_b\.0\.", ".branch2.b_bn."),
    (r"\.branch2\.norm_b\.1\.block\.0\.", ".branch2.se.fc1."),
    (r"\.branch2\.norm_b\.1\.block\.2\.", ".branch2.se.fc2."),
    (r"\.branch2\.conv_c\.", ".branch2.c."), (r"\.branch2\.norm_c\.", ".branch2.c_bn."),
]


def _slowfast_state(model: nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in model.state_dict().items():
        name = key
        for pattern, repl in SLOWFAST_NAMES:
            name = re.sub(pattern, repl, name)
        assert name != key, key
        out[name] = value
    return out


def _save(tmp_path, name: str, obj) -> str:
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def _ours(name: str, classes: int = 400) -> nn.Module:
    torch.manual_seed(123)
    return build_model(get_builtin(name), classes)


@pytest.mark.parametrize("name", sorted(SIZES))
@pytest.mark.parametrize("layout", ["pytorchvideo", "pyslowfast"])
def test_published_layouts_give_pytorchvideos_logits(tmp_path, one_torch_thread, name, layout):
    frames, crop = SIZES[name]
    if layout == "pytorchvideo":
        ref = _randomise(_create_x3d(frames, crop), frames, crop)
        # pytorchvideo's hub files hold {"model_state": state dict}
        path = _save(tmp_path, "x3d.pyth", {"model_state": ref.state_dict()})
    else:
        ref = _slowfast_reference(frames, crop)
        # PySlowFast's checkpoints: model_state plus training state (plain containers, loadable weights_only)
        path = _save(tmp_path, "x3d.pyth", {"epoch": 300, "model_state": _slowfast_state(ref),
                                              "optimizer_state": {"state": {}, "param_groups": []}, "cfg": "X3D: {}"})
    model = _ours(name)
    lines = []
    result = load_init(model, path, log=lines.append)
    assert result.layout == layout and result.head == "kept"
    assert result.folded == (["s2.pathway0_res0.branch1_bn"] if layout == "pyslowfast" else [])
    x = torch.randn(2, 3, frames, crop, crop, generator=torch.Generator().manual_seed(7))
    model.eval()
    with torch.no_grad():
        want32, got32 = ref(x), model(x)
        # float64: the mapping itself (differences ~1e-13 when every tensor is in its place); float32 adds only
        # rounding, which this random 45-conv network amplifies to ~1e-5 of its logits
        want, got = ref.double()(x.double()), model.double()(x.double())
    assert want.shape == got.shape == (2, 400)
    assert want.abs().max() > 1  # logits at a scale where 1e-5 means something
    diff, diff32 = float((want - got).abs().max()), float((want32 - got32).abs().max())
    print(f"{layout} {name}: max |logit| {float(want.abs().max()):.3f}, max |difference| {diff:.1e} (float64), "
          f"{diff32:.1e} (float32)")
    assert diff < 1e-5 and diff32 < 1e-4
    assert any(layout in line for line in lines)


def test_plain_state_dict_and_ddp_prefix_are_read(tmp_path, one_torch_thread):
    ref = _randomise(_create_x3d(*SIZES["x3d-s"]), *SIZES["x3d-s"])
    path = _save(tmp_path, "plain.pt", {f"module.{k}": v for k, v in ref.state_dict().items()})
    assert load_init(_ours("x3d-s"), path, log=lambda m: None).layout == "pytorchvideo"


def test_other_class_count_reinitialises_the_head_and_says_so(tmp_path, one_torch_thread):
    ref = _randomise(_create_x3d(*SIZES["x3d-s"]), *SIZES["x3d-s"])
    path = _save(tmp_path, "k400.pyth", {"model_state": ref.state_dict()})
    model = _ours("x3d-s", classes=101)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    lines = []
    result = load_init(model, path, log=lines.append)
    assert result.head == "re-initialised 400 -> 101 classes"
    assert "init: head 400 -> 101 classes re-initialised" in lines
    sd = model.state_dict()
    assert torch.equal(sd["head.classifier.weight"], fresh["head.classifier.weight"])  # the builder's init
    assert torch.equal(sd["head.hidden.weight"], ref.state_dict()["blocks.5.pool.post_conv.weight"].flatten(1))
    assert torch.equal(sd["stem.0.weight"], ref.state_dict()["blocks.0.conv.conv_t.weight"])


def _checkpoint(tmp_path, edit, name="bad.pyth"):
    sd = dict(_create_x3d(*SIZES["x3d-s"]).state_dict())
    edit(sd)
    return _save(tmp_path, name, {"model_state": sd})


def _unchanged(model, before):
    return all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("edit, words", [
    (lambda sd: sd.pop("blocks.3.res_blocks.4.branch2.norm_b.1.block.0.bias"),
     ["missing (1)", "blocks.3.res_blocks.4.branch2.norm_b.1.block.0.bias (our stages.2.4.depthwise.2.reduce.bias)"]),
    (lambda sd: sd.update({"blocks.5.pool.extra.weight": torch.zeros(3), "blocks.9.x": torch.zeros(1)}),
     ["unexpected (2)", "blocks.5.pool.extra.weight, blocks.9.x"]),
    (lambda sd: sd.update({"blocks.2.res_blocks.0.branch2.conv_b.weight": torch.zeros(108, 1, 3, 5, 5)}),
     ["wrong shape (1)", "blocks.2.res_blocks.0.branch2.conv_b.weight [108, 1, 3, 5, 5] (our "
                         "stages.1.0.depthwise.0.weight [108, 1, 3, 3, 3])"]),
], ids=["missing", "extra", "shape"])
def test_a_checkpoint_that_does_not_fit_names_the_keys_and_loads_nothing(tmp_path, edit, words):
    path = _checkpoint(tmp_path, edit)
    model = _ours("x3d-s")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitError) as err:
        load_init(model, path)
    msg = str(err.value)
    assert path in msg and "pytorchvideo checkpoint does not fit x3d-s, nothing loaded" in msg
    for w in words:
        assert w in msg
    assert _unchanged(model, before)


def test_first_mismatches_are_named_not_all(tmp_path):
    path = _checkpoint(tmp_path, lambda sd: [sd.pop(k) for k in list(sd) if k.startswith("blocks.4.")])
    first = r"blocks\.4\.res_blocks\.0\.branch2\.conv_a\.weight \(our stages\.3\.0\.expand\.0\.weight\)"
    four_more = r"(blocks\.4\.[^,]*, ){3}blocks\.4\.[^,]* \.\.\.$"
    with pytest.raises(InitError, match=rf"missing \(148\): {first}, {four_more}"):
        load_init(_ours("x3d-s"), path)


def test_unknown_layout_is_refused_with_its_first_keys(tmp_path):
    path = _save(tmp_path, "other.pth", {"backbone.conv1.weight": torch.zeros(1), "cls_head.fc.weight": torch.zeros(1)})
    model = _ours("x3d-s")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InitError, match=r"unknown checkpoint layout: first keys \['backbone\.conv1\.weight', "
                                        r"'cls_head\.fc\.weight'\]; known layouts: pytorchvideo \(has blocks"):
        load_init(model, path)
    assert _unchanged(model, before)
    with pytest.raises(InitError, match="no state dict of tensors found"):
        load_init(model, _save(tmp_path, "list.pt", [1, 2]))


def test_published_layouts_need_an_x3d(tmp_path):
    path = _save(tmp_path, "x3d.pyth", {"model_state": _create_x3d(*SIZES["x3d-s"]).state_dict()})
    with pytest.raises(InitError, match="maps only onto an x3d model .* not e3d-s"):
        load_init(_ours("e3d-s"), path)


class _Payload:
    """Unpickling this calls os.getcwd: a stand-in for a file that runs code when loaded."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_a_pickle_with_code_is_refused_without_torchs_advice(tmp_path):
    path = _save(tmp_path, "evil.pyth", {"model_state": {"w": torch.zeros(1)}, "x": _Payload()})
    with pytest.raises(CheckpointFileError) as err:
        load_init(_ours("x3d-s"), path)
    msg = str(err.value)
    assert path in msg and "not loaded" in msg and "may run code" in msg and "posix.getcwd" in msg
    assert "weights_only" not in msg and "trusted" not in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointFileError, match="init checkpoint does not exist"):
        load_init(_ours("x3d-s"), tmp_path / "nope.pyth")
    junk = tmp_path / "junk.pyth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointFileError, match="not a readable init checkpoint") as err:
        load_init(_ours("x3d-s"), junk)
    assert "may run code" not in str(err.value)


def test_e3d_model_files_initialise_any_of_our_networks(tmp_path):
    from e3d.train import checkpoint

    src = _ours("e3d-initial", classes=5)
    path = checkpoint.save(tmp_path / "model.pt", {"model": src.state_dict(), "record": {}, "num_classes": 5})
    model = build_model(get_builtin("e3d-initial"), 5)
    result = load_init(model, path, log=lambda m: None)
    assert result.layout == "e3d" and result.head == "kept"
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in model.state_dict().items())


# ---- `init:` through training and the workflow ----
@pytest.mark.slow  # one X3D training step: seconds on a shared CPU
def test_training_starts_from_the_init_checkpoint_and_records_it(tmp_path, one_torch_thread, capsys):
    from test_train import BASE, TinySource

    from e3d.commands.train import with_init
    from e3d.train.loop import train
    from e3d.train.model_source import ModelOptions, resolve
    from e3d.train.settings import TrainSettings

    ref = _randomise(_create_x3d(4, 32), 4, 32)
    path = _save(tmp_path, "k400.pyth", {"model_state": ref.state_dict()})
    # one step (4 training clips, batch 4): X3D's depthwise 3D convs train slowly on the CPU
    s = TrainSettings.from_dict({**BASE, "epochs": 1, "lr": 1e-6, "warmup_epochs": 0, "deterministic": False})
    record = with_init(resolve("builtin:x3d-s", ModelOptions(frames=4, resolution=16)), path)
    res = train(TinySource(n_per_class=3), record, s, tmp_path / "out", tmp_path / "state", log=print)
    out = capsys.readouterr().out
    assert "init: head 400 -> 4 classes re-initialised" in out and "from the pytorchvideo layout" in out
    ckpt = torch.load(res.model_path, weights_only=True)
    init = ckpt["record"]["init"]
    assert init["file"] == path and init["sha256"] == __import__("hashlib").sha256(open(path, "rb").read()).hexdigest()
    assert init["layout"] == "pytorchvideo" and init["head"] == "re-initialised 400 -> 4 classes"
    arch = json.loads((tmp_path / "out" / "arch.json").read_text())
    assert arch["record"]["init"] == init
    # a step at lr 1e-6 leaves the loaded weights near where they were (a fresh init is ~0.3 away)
    assert torch.allclose(ckpt["model"]["stem.0.weight"], ref.state_dict()["blocks.0.conv.conv_t.weight"], atol=2e-3)

    # the file changed after the run was set up: refused, not silently trained from other weights
    torch.save({"model_state": _create_x3d(4, 32).state_dict()}, path)
    with pytest.raises(InitError, match="changed since the run was set up"):
        train(TinySource(n_per_class=3), record, s, tmp_path / "out2", tmp_path / "state2", log=print)


def test_workflow_makes_the_init_file_an_input_and_its_content_a_param(tmp_path):
    from e3d.config import validate_config
    from e3d.train.workflow import TrainConfig

    ckpt = tmp_path / "x3d_s.pyth"
    ckpt.write_bytes(b"weights v1")
    cfg = validate_config({"work_dir": str(tmp_path / "w"), "models": {
        "ft": {"arch": "builtin:x3d-s", "init": str(ckpt)}, "scratch": {"arch": "builtin:x3d-s"}}})
    t = TrainConfig(cfg)
    assert t.arch_inputs("ft") == [str(ckpt)] and t.arch_inputs("scratch") == []
    assert t.model_flags("ft") == f"--init {ckpt}" and t.model_flags("scratch") == ""
    first = t.init_digest("ft")
    assert len(first) == 64 and t.init_digest("scratch") == ""
    ckpt.write_bytes(b"weights v2")
    os.utime(ckpt, ns=(1, 1))  # an older mtime: only the content digest tells the job to rerun
    assert t.init_digest("ft") not in ("", first)
    with pytest.raises(Exception, match="init"):
        validate_config({"work_dir": "w", "models": {"ft": {"arch": "builtin:x3d-s", "init": 3}}})
