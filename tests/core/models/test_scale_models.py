"""Bigger pictures and bigger networks: ``--arch``, ``--image-size``, ``--pretrained`` (core.models,
core.checkpoints.pretrained, core.cli.train) and the CIFAR downloads' offline failure (core.data.downloads).

Fixtures are tiny folders of 64×64 PNGs written by the tests; nothing is downloaded (the network
is switched off inside the process where a test needs "offline")."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch

from core.cli import main as cli_main
from core.models import ARCH_INFO, ARCHITECTURES, build_model, check_arch
from core.checkpoints.pretrained import PretrainedError, apply_backbone_state, check_pretrained, read_pretrained

from tests.support.images import COLOURS, png_folder


def cli(args, capsys) -> tuple[int, str, str]:
    code = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network in this process, and empty torch-hub / ShiftLab caches."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path / "shiftlab-cache"))
    torch.hub.set_dir(str(tmp_path / "torch-home" / "hub"))
    yield
    torch.hub._hub_dir = None


# ------------------------------------------------------------------------------ architectures

def test_resnet50_is_built_like_resnet18():
    torch.manual_seed(0)
    for arch, dim in (("resnet18", 512), ("resnet50", 2048)):
        model = build_model({"arch": arch, "num_classes": 4, "input_size": 32}).eval()
        x = torch.rand(2, 3, 32, 32)
        with torch.no_grad():
            assert model(x).shape == (2, 4) and model.features(x).shape == (2, dim)
        assert model.spec == {"arch": arch, "num_classes": 4, "input_size": 32}


def test_arch_and_size_errors_are_one_line_listing_what_is_valid():
    with pytest.raises(ValueError) as err:
        check_arch("vgg16")
    assert all(a in str(err.value) for a in ARCHITECTURES) and "\n" not in str(err.value)
    with pytest.raises(ValueError) as err:
        check_arch("resnet50", 24)
    msg = str(err.value)
    assert "24" in msg and "resnet50" in msg and "≥ 32" in msg and "digits_cnn ≥ 16" in msg
    check_arch("resnet50", 32)
    check_arch("digits_cnn", ARCH_INFO["digits_cnn"]["min_size"])


def test_cli_refuses_unknown_arch_and_too_small_size_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["train", "--arch", "vgg16", "--out", str(tmp_path / "a")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vgg16" in err and "resnet50" in err
    started = time.perf_counter()
    code, _, err = cli(["train", "--arch", "resnet18", "--image-size", "20", "--out", tmp_path / "b"], capsys)
    assert code == 2 and "image size 20 is too small for resnet18" in err and err.count("\n") == 1
    code, _, err = cli(["train", "--arch", "resnet18", "--out", tmp_path / "c"], capsys)  # MNIST's 28 px
    assert code == 2 and "image size 28 is too small" in err and "--image-size" in err
    assert time.perf_counter() - started < 20
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


# --------------------------------------------------------------------------------- pretrained

def _torchvision_state(arch: str = "resnet18") -> dict[str, torch.Tensor]:
    import torchvision.models as tvm

    torch.manual_seed(1)
    return {k: v.contiguous() for k, v in getattr(tvm, arch)(weights=None).state_dict().items()}


def test_pretrained_safetensors_in_torchvision_naming_initialises_the_backbone(tmp_path):
    from safetensors.torch import save_file

    state = _torchvision_state()
    save_file(state, tmp_path / "r18.safetensors")
    model = build_model({"arch": "resnet18", "num_classes": 3, "input_size": 32})
    apply_backbone_state(model.backbone, read_pretrained("resnet18", str(tmp_path / "r18.safetensors"), 32))
    assert torch.equal(model.backbone.net.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(model.backbone.net.bn1.running_var, state["bn1.running_var"])
    with pytest.raises(ValueError, match="unknown model spec keys"):  # a spec never points at files
        build_model({"arch": "resnet18", "weights_path": str(tmp_path / "r18.safetensors")})


def test_pretrained_file_of_the_wrong_shape_names_the_first_mismatching_tensor(tmp_path, capsys):
    from safetensors.torch import save_file

    state = _torchvision_state()
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)   # 3×3 in a ResNet-18
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(PretrainedError) as err:
        check_pretrained("resnet18", str(tmp_path / "bad.safetensors"))
    assert "'layer2.0.conv1.weight' has shape (128, 64, 5, 5), resnet18 expects (128, 64, 3, 3)" in str(err.value)
    # a ResNet-18 file offered to a ResNet-50: the first tensor that differs, in the network's order
    save_file(_torchvision_state(), tmp_path / "r18.safetensors")
    with pytest.raises(PretrainedError, match=r"'layer1\.0\.conv1\.weight' has shape \(64, 64, 3, 3\), "
                                              r"resnet50 expects \(64, 64, 1, 1\)"):
        check_pretrained("resnet50", str(tmp_path / "r18.safetensors"))
    # from the CLI: one line, before any data is read
    code, out, err = cli(["train", "--arch", "resnet18", "--image-size", "32", "--pretrained",
                          tmp_path / "bad.safetensors", "--out", tmp_path / "run"], capsys)
    assert code == 2 and err.count("\n") == 1 and "layer2.0.conv1.weight" in err and out == ""


def test_pretrained_refuses_pickles_and_missing_files(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"\x80\x04not really")
    with pytest.raises(PretrainedError, match="pickle"):
        check_pretrained("resnet18", str(tmp_path / "w.pth"))
    with pytest.raises(PretrainedError, match="no such file"):
        check_pretrained("resnet18", str(tmp_path / "absent.safetensors"))


def test_offline_imagenet_fails_at_once_naming_the_local_file_alternative(offline, tmp_path, capsys):
    started = time.perf_counter()
    code, out, err = cli(["train", "--arch", "resnet18", "--image-size", "32", "--pretrained", "imagenet",
                          "--steps", "1000", "--out", tmp_path / "run"], capsys)
    assert code == 2 and out == ""
    assert "offline" in err and "--pretrained PATH" in err and err.count("\n") == 1
    assert time.perf_counter() - started < 10  # before any training (1000 steps would take minutes)
    assert not (tmp_path / "run" / "model.safetensors").exists()
    with pytest.raises(PretrainedError, match="no ImageNet weights for 'digits_cnn'"):
        check_pretrained("digits_cnn", "imagenet")


def test_a_checkpoint_can_initialise_the_next_run(tmp_path):
    """The pre-train → fine-tune recipe: a ShiftLab checkpoint's backbone, its head left behind."""
    from core.checkpoints import make_card, save

    first = build_model({"arch": "resnet18", "num_classes": 10, "input_size": 32})
    card = make_card(first, method="source_only", source="cifar10", target="cifar10",
                     class_names=[str(i) for i in range(10)])
    save(first, card, tmp_path / "ckpt")
    second = build_model({"arch": "resnet18", "num_classes": 100, "input_size": 32})
    apply_backbone_state(second.backbone, read_pretrained("resnet18", str(tmp_path / "ckpt"), 32))
    assert torch.equal(second.backbone.net.conv1.weight, first.backbone.net.conv1.weight)
    assert second.head.out_features == 100
    with pytest.raises(PretrainedError, match="is a resnet18 checkpoint; it cannot initialise resnet50"):
        check_pretrained("resnet50", str(tmp_path / "ckpt"))


# ------------------------------------------------------------------- a 64-pixel folder, ResNet-18

def test_a_64_pixel_folder_trains_a_resnet18_at_that_size_from_the_cli(tmp_path, capsys):
    from core.checkpoints import load

    png_folder(tmp_path / "photos", n=8)
    png_folder(tmp_path / "photos_dim", n=8, seed=1, dim=0.6)
    out = tmp_path / "run"
    code, stdout, err = cli(["train", "--method", "dann", "--arch", "resnet18", "--image-size", "64",
                             "--source", f"folder:{tmp_path / 'photos'}", "--target", f"folder:{tmp_path / 'photos_dim'}",
                             "--steps", "3", "--batch-size", "4", "--eval-every", "0", "--threads", "1",
                             "--device", "cpu", "--json", "--quiet", "--out", out], capsys)
    assert code == 0, err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["arch"] == "resnet18" and summary["image_size"] == 64 and summary["world_size"] == 1
    card = json.loads((out / "card.json").read_text())
    assert card["model"]["arch"] == "resnet18" and card["model"]["input_size"] == 64 and card["input_size"] == 64
    assert card["class_names"] == sorted(COLOURS)
    model, _ = load(out)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 3)


# ---------------------------------------------------------------------------- CIFAR downloads

def test_cifar_domains_are_listed_at_32_pixels_with_their_class_names():
    from core.data import describe_domains, domain_names, native_size
    from core.data.downloads import CLASSES, SIZES

    assert {"cifar10", "cifar100"} <= set(domain_names()) and "cifar100" in describe_domains()
    assert native_size("cifar10") == native_size("cifar100") == SIZES["cifar10"] == 32
    assert len(CLASSES["cifar10"]) == 10 and len(set(CLASSES["cifar100"])) == 100
    assert native_size("mnist") == 28


def test_cifar_offline_fails_with_a_domain_error_that_says_so(offline, tmp_path, capsys):
    from core.data import DomainError, load_domain

    for name in ("cifar10", "cifar100"):
        with pytest.raises(DomainError) as err:
            load_domain(name, "train")
        assert f"could not download {name!r}" in str(err.value) and "internet" in str(err.value)
        assert "mnist" in str(err.value)  # lists what works offline
    code, out, err = cli(["train", "--method", "finetune", "--source", "cifar10", "--target", "cifar100",
                          "--arch", "resnet18", "--quiet", "--out", tmp_path / "run"], capsys)
    assert code == 2 and "could not download 'cifar10'" in err and err.count("\n") == 1 and out == ""
