"""The command line under fuzzing: hypothesis writes argument lists for every command, valid and
invalid, and each one runs through ``core.cli.main`` in-process (a sample also as a real
``python -m core`` subprocess).

What must hold for every argument list:

* a non-zero exit code comes with exactly one line on stderr, starting with ``error:``, and no
  traceback anywhere;
* exit code 0 only with a real result: the read-only commands (``domains``, ``methods``,
  ``zoo list|table``) print it, as JSON on the last stdout line with ``--json``;
* the commands that do work (``train``, ``eval``, ``export``, ``zoo rebuild``, ``bench``) never
  start it with an invalid argument: the work (``core.training.engine.train``,
  ``core.evaluation.model_report``, ``core.checkpoints.onnx.export_onnx``, ``core.bench.main``) is replaced by
  a sentinel that fails the test when the arguments were invalid, and that stops a valid run
  without a result (so nothing is ever trained and no exit 0 is made up);
* and the other way round: valid arguments are never refused.

Which arguments are valid is decided here, independently of the CLI's code, from the declared
ranges (``core.training.config.RANGES``), the method registry (each ``Hyper``'s type, range and kind), the
devices torch reports and the files this module creates. A handful of tiny real runs check the
successful path end to end (a checkpoint is written and loads; a failing run writes none).

Cases: ``SHIFTLAB_CLI_FUZZ_EXAMPLES`` (default 240) in all, split over the commands, e.g.

    SHIFTLAB_CLI_FUZZ_EXAMPLES=5000 OMP_NUM_THREADS=1 python -m pytest tests/test_cli_fuzz.py -k fuzz -q
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core import cli
from core.training.config import RANGES
from core.methods import METHODS, ordered

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "pretrained"
FUZZ_TOTAL = int(os.environ.get("SHIFTLAB_CLI_FUZZ_EXAMPLES", "240"))
COMMANDS = ("train", "eval", "export", "zoo", "bench", "info")
FUZZ = settings(max_examples=max(1, FUZZ_TOTAL // len(COMMANDS)), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
TRIED = {c: 0 for c in COMMANDS}
VALID = {c: 0 for c in COMMANDS}

pytestmark = pytest.mark.skipif(not (SHIPPED / "mnist-mnistm" / "dann" / "card.json").exists(),
                                reason="needs the shipped zoo (pretrained/)")


class Reached(BaseException):
    """Raised where a command's work would start (BaseException: the CLI must not catch it)."""


# --------------------------------------------------------------------------- the world

class World:
    """Files the generated arguments point at, made once for the module."""

    def __init__(self, root: Path):
        self.root = root
        self.good = root / "digits"                       # folder:GOOD, classes 3 and 7
        for cls in ("3", "7"):
            (self.good / cls).mkdir(parents=True)
            for i in range(3):
                arr = np.zeros((28, 28, 3), np.uint8)
                arr[6:22, 10 + i:14 + i] = 255
                Image.fromarray(arr).save(self.good / cls / f"{i}.png")
        self.good_zip = root / "digits.zip"
        with zipfile.ZipFile(self.good_zip, "w") as zf:
            for p in sorted(self.good.rglob("*.png")):
                zf.write(p, p.relative_to(self.good).as_posix())
        self.file = root / "notes.txt"
        self.file.write_text("a file, not a folder")
        self.broken_zip = root / "broken.zip"
        data = bytearray(self.good_zip.read_bytes())
        cd = data.rfind(b"PK\x01\x02")
        data[cd:cd + 4] = b"XXXX"
        self.broken_zip.write_bytes(bytes(data))
        self.occupied = root / "occupied"
        self.occupied.mkdir()
        (self.occupied / "keep.txt").write_text("someone's file")
        self.folder_named_onnx = root / "model.onnx"
        self.folder_named_onnx.mkdir()
        self.zoo = root / "zoo"                          # a copy of the shipped zoo: rebuilds never touch pretrained/
        shutil.copytree(SHIPPED, self.zoo)
        self.checkpoint = str(self.zoo / "mnist-mnistm" / "dann")
        self.student = self.zoo / "mnist-mnistm" / "distill"
        self.fresh = itertools.count()

    def new_path(self, suffix: str = "") -> str:
        return str(self.root / "out" / f"run-{next(self.fresh)}{suffix}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("cli-fuzz"))
    mp = pytest.MonkeyPatch()
    mp.setenv("SHIFTLAB_ZOO_DIR", str(w.zoo))
    mp.setattr("tempfile.tempdir", str(w.root))  # zoo rebuild --tiny makes its folder here

    def sentinel(*args, **kwargs):
        raise Reached()

    for target in ("core.training.engine.train", "core.evaluation.model_report", "core.checkpoints.onnx.export_onnx",
                   "core.bench.main"):
        mp.setattr(target, sentinel)
    yield w
    mp.undo()


# --------------------------------------------------------------------------- the oracle's tokens
# A Tok draws (text, valid): ``good`` only valid texts, ``any`` valid and invalid ones. Each
# argument list spoils none, some or all of its tokens (see Spoiler), so that about half the cases
# are valid and many invalid ones have a single bad token (which its own check must catch).

class Tok:
    def __init__(self, good, any_):
        self.good, self.any = good, any_


class Spoiler:
    """Decides which token slots of one argument list may be invalid: each with a chance drawn per
    list (none, a few, or all)."""

    def __init__(self, draw):
        self.draw = draw
        self.percent = draw(st.sampled_from([0, 0, 25, 25, 40, 100]))

    def _free(self) -> bool:
        return 0 < self.percent and (self.percent == 100 or self.draw(st.integers(0, 99)) < self.percent)

    def __call__(self, tok: Tok) -> tuple:
        return self.draw(tok.any if self._free() else tok.good)

    def present(self) -> bool:
        """Whether a required option is given (a spoiled slot may leave it out)."""
        return not self._free() or self.draw(st.integers(0, 2)) > 0


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")  # what argparse takes for a number, not an option


def _looks_like_option(text: str) -> bool:
    return text.startswith("-") and not _NEGATIVE_NUMBER.match(text)


def judge_number(text: str, kind, low, high) -> bool:
    """Python's own reading of a number (int() / float()), finite and within [low, high]."""
    try:
        value = (int if kind is int else float)(text)
    except ValueError:
        return False
    return math.isfinite(value) and low <= value <= high


def _span(low, high, kind):
    if kind is int:
        return st.integers(int(max(low, -10 ** 6)), int(min(high, max(low, 0) + 5000))).map(str)
    return st.floats(max(low, -1e6), min(high, 1e6)).map(repr)


def number_texts(low, high, kind):
    odd = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1e-400", str(2 ** 64),
                           str(-(2 ** 64)), "-1", "-0", "0", "1", "1.5", "1e3", "0x10", "1_000", " 7 ", "",
                           " ", "seven", "\u0663", "1,5", "--", "-", "-x", str(high), str(low),
                           repr(high * 1.0000001)])
    return st.one_of(_span(low, high, kind), odd, st.integers(-2 ** 70, 2 ** 70).map(str), st.floats().map(repr),
                     st.text(max_size=6))


def number(name: str, kind=float, low=None, high=None) -> Tok:
    """A numeric option: valid when argparse takes it as a value (not an option) and it reads as a
    finite number in the declared range."""
    lo, hi = (low, high) if low is not None else RANGES[name]
    judge = lambda t: (t, not _looks_like_option(t) and judge_number(t, kind, lo, hi))  # noqa: E731
    return Tok(_span(lo, hi, kind).map(judge), number_texts(lo, hi, kind).map(judge))


def name_from(valid_names, invalid_names=(), neutral=()) -> Tok:
    """Valid names, listed invalid ones and random text (never one of ``neutral``: names whose
    validity depends on more than the token, e.g. domains that need a download)."""
    valid_names = list(valid_names)
    good = st.sampled_from(valid_names).map(lambda t: (t, True))
    junk = st.sampled_from(list(invalid_names) + ["", " ", "nope", "x" * 300, "--", "-h-", "\n", "\u00e9"])
    text = st.text(max_size=12).filter(lambda t: t not in neutral)
    return Tok(good, st.one_of(good, junk.map(lambda t: (t, t in valid_names)),
                               text.map(lambda t: (t, t in valid_names))))


def fixed(valid: list[str], invalid: list[str], fresh=None) -> Tok:
    """Paths and the like: listed valid and invalid ones, plus ``fresh()`` (valid) each time."""
    good = [st.sampled_from(valid).map(lambda t: (t, True))] if valid else []
    if fresh is not None:
        good.append(st.builds(lambda: (fresh(), True)))
    good = st.one_of(*good)
    return Tok(good, st.one_of(good, st.sampled_from(invalid).map(lambda t: (t, False))))


def devices() -> list[str]:
    here = ["auto", "cpu"]
    if torch.cuda.is_available():
        here.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        here.append("mps")
    return here


def device_token() -> Tok:
    return name_from(devices(), ["cuda", "mps", "CPU", "cuda:0", "gpu", "tpu"])


def domain_tokens(w: World) -> Tok:
    valid = ["mnist", "mnistm", "syndigits", "ucidigits", f"folder:{w.good}", f"zip:{w.good_zip}",
             f"folder:{w.good_zip}"]
    invalid = ["MNIST", "nope", "svhn2", "folder:", "zip:", "folder:/sys/x", f"folder:{'a' * 300}",
               f"folder:{w.root}/{'b' * 300}", f"folder:{w.file}", f"folder:{w.file}/sub", f"zip:{w.broken_zip}",
               "zip:/dev/null", f"zip:{w.root / 'missing.zip'}", "mnist+syndigits"]
    return name_from(valid, invalid, neutral=("usps", "svhn", "mnist_full"))


def out_tokens(w: World, for_checkpoint: bool) -> Tok:
    """--out of train (a checkpoint folder) or zoo rebuild (any folder)."""
    invalid = [f"{w.file}/sub", str(w.file), "/sys/x", f"{w.root}/{'c' * 300}", "/proc/1/nope"]
    if for_checkpoint:
        invalid.append(str(w.occupied))
    return fixed([], invalid, fresh=w.new_path)


def onnx_out_tokens(w: World) -> Tok:
    invalid = [w.new_path(".txt"), w.new_path(""), str(w.folder_named_onnx), f"{w.file}/m.onnx",
               "/sys/m.onnx", f"{w.root}/{'d' * 300}.onnx", ""]
    return fixed([], invalid, fresh=lambda: w.new_path(".onnx"))


def checkpoint_tokens(w: World) -> Tok:
    valid = [w.checkpoint, "mnist->mnistm/dann", "mnist->mnistm/source_only"]
    invalid = [str(w.file), str(w.good), str(w.broken_zip), "mnist->mnistm/nope", "nope->x/dann", "/sys/x",
               "x" * 300, "", "mnist->mnistm/"]
    return name_from(valid, invalid)


def hyper_value(w: World, hyper) -> Tok:
    """One --set value, judged as the CLI reads it (stripped) from the hyperparameter's declaration:
    its type and range, or for a model reference, a model that exists."""
    if hyper.kind == "model":
        refs = [w.checkpoint, "mnist->mnistm/dann"]
        texts = st.one_of(st.sampled_from(refs), st.sampled_from(
            [str(w.file), str(w.good), "mnist->mnistm/nope", "", "x", f" {w.checkpoint} "]), st.text(max_size=8))
        return Tok(st.sampled_from(refs).map(lambda t: (t, True)), texts.map(lambda t: (t, t.strip() in refs)))
    kind = type(hyper.default)
    if kind is bool:
        words = ("true", "false", "1", "0", "yes", "no")
        texts = st.one_of(st.sampled_from(["true", "False", "1", "0", "yes", "NO", " yes ", "maybe", "2", ""]),
                          st.text(max_size=5))
        return Tok(st.sampled_from(words).map(lambda t: (t, True)),
                   texts.map(lambda t: (t, t.strip().lower() in words)))
    low = hyper.low if hyper.low is not None else -math.inf
    high = hyper.high if hyper.high is not None else math.inf
    judge = lambda t: (t, judge_number(t.strip(), kind, low, high))  # noqa: E731
    return Tok(_span(low, high, kind).map(judge), number_texts(low, high, kind).map(judge))


def set_pairs(draw, spoil: Spoiler, w: World, method: str) -> tuple[list[str], bool]:
    """--set KEY=VALUE pairs for ``method`` and whether they are valid together (the last value of
    a key wins; a required model reference must be given)."""
    hypers = dict(METHODS[method].hyperparameters)
    pairs, values, ok = [], {}, True
    required = [k for k, h in hypers.items() if h.kind == "model" and h.required]
    keys = required + draw(st.lists(st.sampled_from(sorted(hypers)), max_size=2)) if hypers else []
    for key in keys:
        if not spoil.present():
            continue
        text, valid = spoil(hyper_value(w, hypers[key]))
        pairs.append(f"{key}={text}")
        values[key] = valid
    odd = st.sampled_from([None, None, "alpha", "", "lr 0.1", "=", "=1", "bogus=1", "LR=0.1", "x" * 300 + "=1"])
    bad = spoil(Tok(st.just((None, True)), odd.map(lambda t: (t, t is None))))
    if bad[0] is not None:
        pairs.insert(draw(st.integers(0, len(pairs))), bad[0])
        ok = False
    ok = ok and all(values.values()) and all(k in values for k in required)
    return pairs, ok


# --------------------------------------------------------------------------- argument lists

def option_list(draw, spoil: Spoiler, options: dict) -> tuple[list[str], bool]:
    """Some of ``options`` (name → Tok), in random order."""
    chosen = draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=len(options)))
    argv, ok = [], True
    for opt in chosen:
        text, valid = spoil(options[opt])
        argv += [opt, text]
        ok = ok and valid
    return argv, ok


JUNK = Tok(st.just(([], True)), st.sampled_from([[], ["--bogus"], ["--bogus", "1"], ["stray"], ["-z"]]).map(
    lambda extra: (extra, not extra)))


@st.composite
def train_argv(draw, w: World):
    from core.methods import default_method

    spoil = Spoiler(draw)
    argv = ["train"]
    method, method_ok = default_method(), True
    if draw(st.booleans()):
        method, method_ok = spoil(name_from(ordered(), ["DANN", "dann ", "source-only", "mmd2"]))
        argv += ["--method", method]
    options = {"--source": domain_tokens(w), "--target": domain_tokens(w),
               "--steps": number("steps", int), "--batch-size": number("batch_size", int),
               "--lr": number("lr"), "--seed": number("seed", int), "--warmup": number("warmup"),
               "--threads": number("threads", int), "--eval-every": number("eval_every", int),
               "--precision": name_from(["auto", "fp32", "bf16"], ["fp16", "FP32"]),
               "--lr-rule": name_from(["none", "sqrt", "linear"], ["log"]),
               "--device": device_token(),
               "--accel": name_from(["auto", "off", "compile"] + (["graph"] if torch.cuda.is_available() else []),
                                    ["cuda", "on", "", "graph"]),
               "--out": out_tokens(w, True)}
    more, ok = option_list(draw, spoil, options)
    argv += more
    given = dict(zip(more[::2], more[1::2]))
    device, accel = given.get("--device", "auto"), given.get("--accel", "auto")
    pairs, sets_ok = set_pairs(draw, spoil, w, method) if method_ok else ([], True)
    for pair in pairs:
        argv += ["--set", pair]
    argv += draw(st.sampled_from([[], ["--json"], ["--quiet"], ["--json", "--quiet"]]))
    extra, extra_ok = spoil(JUNK)
    argv += extra
    if ok and method_ok:  # accel must suit the device and the method
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        graph_safe = METHODS[method].graph_safe
        ok = {"auto": True, "off": True, "graph": cuda and graph_safe, "compile": (not cuda) or graph_safe}[accel]
    return argv, ok and method_ok and sets_ok and extra_ok


@st.composite
def eval_argv(draw, w: World):
    spoil = Spoiler(draw)
    argv, ok = ["eval"], True
    if spoil.present():  # --checkpoint is required
        text, ok = spoil(checkpoint_tokens(w))
        argv += ["--checkpoint", text]
    else:
        ok = False
    more, more_ok = option_list(draw, spoil, {"--domain": domain_tokens(w), "--device": device_token(),
                                              "--split": name_from(["train", "test"], ["val", "TEST"])})
    argv += more + draw(st.sampled_from([[], ["--json"]]))
    extra, extra_ok = spoil(JUNK)
    return argv + extra, ok and more_ok and extra_ok


@st.composite
def export_argv(draw, w: World):
    spoil = Spoiler(draw)
    argv, ok = ["export"], True
    for opt, tokens in (("--checkpoint", checkpoint_tokens(w)), ("--out", onnx_out_tokens(w))):
        if spoil.present():  # both are required
            text, valid = spoil(tokens)
            argv += [opt, text]
            ok = ok and valid
        else:
            ok = False
    more, more_ok = option_list(draw, spoil, {"--format": name_from(["onnx"], ["ONNX", "torchscript"])})
    argv += more + draw(st.sampled_from([[], ["--json"]]))
    extra, extra_ok = spoil(JUNK)
    return argv + extra, ok and more_ok and extra_ok


@st.composite
def zoo_argv(draw, w: World):
    spoil = Spoiler(draw)
    action, action_ok = spoil(name_from(["list", "table", "rebuild"], ["build", "LIST", "ls"]))
    argv = ["zoo", action]
    domains = ["mnist", "mnistm", "ucidigits", "syndigits"]
    pair = st.tuples(st.sampled_from(domains), st.sampled_from(domains)).map(lambda p: (f"{p[0]}->{p[1]}", True))
    scenario = Tok(pair, st.one_of(pair, st.sampled_from(
        ["mnist", "mnist->", "->mnistm", "mnist->nope", "nope->mnist", "mnist-mnistm", "",
         f"folder:{w.file}->mnist"]).map(lambda t: (t, False))))
    method = name_from(ordered(), ["nope", "DANN"])
    more, typed_ok = option_list(draw, spoil, {"--seeds": number("seeds", int, 1, 100),
                                               "--steps": number("steps", int)})
    argv += more
    rebuild_ok = True
    parse_ok = True  # argparse refuses an option value that looks like an option, whatever the action
    if draw(st.booleans()):
        out, out_ok = spoil(out_tokens(w, False))
        argv += ["--out", out]
        rebuild_ok = out_ok
        parse_ok = not _looks_like_option(out)
    chosen = []
    for _ in range(draw(st.integers(0, 2))):
        text, valid = spoil(scenario)
        argv += ["--scenario", text]
        rebuild_ok = rebuild_ok and valid
        parse_ok = parse_ok and not _looks_like_option(text)
    for _ in range(draw(st.integers(0, 2))):
        text, valid = spoil(method)
        argv += ["--method", text]
        rebuild_ok = rebuild_ok and valid
        parse_ok = parse_ok and not _looks_like_option(text)
        chosen.append(text)
    if chosen and rebuild_ok:  # a distilled student needs an adapted teacher in the same rebuild
        students = [m for m in chosen if METHODS[m].model_hyperparameters()]
        if students and not any(METHODS[m].is_adapted() for m in chosen):
            rebuild_ok = False
    if draw(st.booleans()):
        device, device_ok = spoil(device_token())
        argv += ["--device", device]
        typed_ok = typed_ok and device in ("auto", "cpu", "cuda", "mps")  # argparse choices
        rebuild_ok = rebuild_ok and device_ok
    argv += draw(st.sampled_from([[], ["--tiny"], ["--json"]]))
    extra, extra_ok = spoil(JUNK)
    ok = action_ok and typed_ok and parse_ok and extra_ok and (rebuild_ok if action == "rebuild" else True)
    return argv + extra, ok


@st.composite
def bench_argv(draw, w: World):
    spoil = Spoiler(draw)
    argv, ok = ["bench"], True
    if draw(st.booleans()):
        device, ok = spoil(device_token())
        argv += ["--device", device]
    argv += draw(st.sampled_from([[], ["--small"], ["--quick", "--json"]]))
    extra, extra_ok = spoil(JUNK)
    return argv + extra, ok and extra_ok


@st.composite
def info_argv(draw, w: World):
    spoil = Spoiler(draw)
    command, ok = spoil(name_from(["domains", "methods"], ["domain", "method", "help", "", "zoo2"],
                                  neutral=("train", "bench")))
    argv = [command] if spoil.present() else []
    if not argv:
        ok = False  # no command at all
    extra, extra_ok = spoil(JUNK)
    return argv + extra, ok and extra_ok


# --------------------------------------------------------------------------- the property

WORK = {"train", "eval", "export", "bench"}


def run_cli(argv: list[str]) -> tuple[int | None, str, str, bool]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code, reached = cli.main(argv), False
        except SystemExit as e:  # argparse
            code, reached = (e.code if isinstance(e.code, int) else 1), False
        except Reached:
            code, reached = None, True
    return code, out.getvalue(), err.getvalue(), reached


def check(argv: list[str], valid: bool) -> None:
    code, out, err, reached = run_cli(argv)
    shown = f"argv={argv!r}\nexit={code} reached={reached}\nstdout={out[-800:]!r}\nstderr={err[-800:]!r}"
    assert "Traceback" not in out + err, shown
    if reached:
        assert valid, "the work started with invalid arguments:\n" + shown
        return
    if code == 0:
        is_work = argv and (argv[0] in WORK or (argv[0] == "zoo" and len(argv) > 1 and argv[1] == "rebuild"))
        assert not is_work, "exit 0 without doing the work (a made-up result):\n" + shown
        assert valid, "exit 0 for invalid arguments:\n" + shown
        assert out.strip(), "exit 0 without a result:\n" + shown
        if "--json" in argv and argv[:2] == ["zoo", "list"]:
            json.loads(out.strip().splitlines()[-1])
        return
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), "not one 'error:' line:\n" + shown
    assert not valid, "valid arguments refused:\n" + shown


def _fuzz(command: str, strategy):
    @FUZZ
    @given(data=st.data())
    def run(world, data):
        argv, valid = data.draw(strategy(world), label="argv")
        TRIED[command] += 1
        VALID[command] += valid
        check(argv, valid)

    return run


test_fuzz_train = _fuzz("train", train_argv)
test_fuzz_eval = _fuzz("eval", eval_argv)
test_fuzz_export = _fuzz("export", export_argv)
test_fuzz_zoo = _fuzz("zoo", zoo_argv)
test_fuzz_bench = _fuzz("bench", bench_argv)
test_fuzz_info = _fuzz("info", info_argv)


def test_fuzz_report(world):
    """Every command was fuzzed with both valid and invalid argument lists (the model of validity is
    not trivially all-valid or all-invalid); prints the counts (pytest -s shows them)."""
    if not sum(TRIED.values()):
        pytest.skip("the fuzz tests above did not run in this session (select them with -k fuzz)")
    print(f"\nCLI fuzz cases tried: {sum(TRIED.values())} (valid {sum(VALID.values())}; "
          + ", ".join(f"{k} {TRIED[k]}/{VALID[k]} valid" for k in COMMANDS) + ")")
    for command in COMMANDS:
        assert TRIED[command] > 0, f"no fuzz case ran for {command}"
        assert 0 < VALID[command] < TRIED[command], f"{command}: {VALID[command]} of {TRIED[command]} cases valid"


# --------------------------------------------------------------------------- fixed cases

@pytest.mark.parametrize("argv", [
    ["train", "--steps", "nan"], ["train", "--lr", "inf"], ["train", "--batch-size", "1e999"],
    ["train", "--steps", str(10 ** 30)], ["train", "--set", "domain_weight=nan"],
    ["train", "--method", "distill"],                      # a teacher is required
    ["train", "--method", "distill", "--set", "teacher=mnist->mnistm/nope"],
    ["train", "--device", "cuda"] if not torch.cuda.is_available() else ["train", "--device", "tpu"],
    ["train", "--accel", "graph"] if not torch.cuda.is_available() else ["train", "--accel", "bogus"],
    ["train", "--target", "folder:/sys/x"], ["train", "--out", "/sys/x"],
    ["export", "--checkpoint", "mnist->mnistm/dann", "--out", "/sys/x.onnx"],
    ["zoo", "rebuild", "--scenario", "mnist->nope"], ["zoo", "rebuild", "--out", "/sys/x"],
    ["zoo", "list", "--method", "--"],                     # argparse: an option where a value belongs
])
def test_known_invalid_arguments_fail_before_any_work(world, argv):
    check(argv, False)


@pytest.mark.parametrize("argv", [
    ["train", "--method", "distill", "--set", "teacher=mnist->mnistm/dann", "--steps", "1"],
    ["train", "--target", "folder:{good}", "--steps", " 7 ", "--seed", "-0", "--warmup", "0.5"],
    ["eval", "--checkpoint", "mnist->mnistm/dann", "--domain", "zip:{zip}"],
    ["export", "--checkpoint", "mnist->mnistm/dann", "--out", "{new}.onnx"],
    ["zoo", "rebuild", "--tiny", "--scenario", "mnist->ucidigits", "--method", "source_only"],
    ["zoo", "list", "--json"], ["zoo", "table"], ["domains"], ["methods"], ["bench", "--small"],
])
def test_known_valid_arguments_reach_the_work_or_a_result(world, argv):
    argv = [a.format(good=world.good, zip=world.good_zip, new=world.new_path()) for a in argv]
    check(argv, True)


# --------------------------------------------------------------------------- real runs

def test_real_tiny_train_writes_a_checkpoint_that_loads_and_counts_skipped(tmp_path, world, monkeypatch):
    """Exit 0 only with a real result: a 2-step run onto a folder with one broken picture."""
    from core.training import engine as engine_module
    from core.checkpoints import load

    monkeypatch.setattr(engine_module, "train", _REAL_TRAIN)  # not the sentinel: this one really trains
    target = tmp_path / "target"
    shutil.copytree(world.good, target)
    (target / "3" / "00-broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")  # sorts into train
    out = tmp_path / "run"
    code, stdout, stderr, reached = run_cli(
        ["train", "--method", "source_only", "--source", "mnist", "--target", f"folder:{target}", "--steps", "2",
         "--batch-size", "8", "--eval-every", "0", "--threads", "1", "--json", "--quiet", "--out", str(out)])
    assert code == 0 and not reached, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert Path(summary["checkpoint"]) == out and (out / "model.safetensors").is_file()
    assert summary["skipped_target_train"] == 1 and summary["skipped_source_train"] == 0
    model, card = load(out)
    assert card["data"]["skipped_target_train"] == 1


def test_real_failing_train_writes_no_checkpoint(tmp_path, monkeypatch):
    """A run that fails after the argument checks (nothing in the folder can be read) exits 2 with
    one line and leaves no checkpoint behind."""
    from core.training import engine as engine_module

    monkeypatch.setattr(engine_module, "train", _REAL_TRAIN)
    target = tmp_path / "target"
    for cls in ("3", "7"):
        (target / cls).mkdir(parents=True)
        for name in "abcde":  # five per class: the 80/20 split has a test split to fail on too
            (target / cls / f"{name}.png").write_bytes(b"garbage")
    out = tmp_path / "run"
    code, stdout, stderr, reached = run_cli(
        ["train", "--method", "source_only", "--target", f"folder:{target}", "--steps", "2", "--quiet",
         "--out", str(out)])
    lines = stderr.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "could be read" in lines[0]
    assert not (out / "model.safetensors").exists() and not (out / "card.json").exists()


def test_real_eval_on_a_folder(world, monkeypatch):
    from core import evaluation

    monkeypatch.setattr(evaluation, "model_report", _REAL_REPORT)
    code, stdout, stderr, _ = run_cli(["eval", "--checkpoint", world.checkpoint, "--domain",
                                       f"folder:{world.good}", "--split", "train", "--json"])
    assert code == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["skipped"] == 0 and 0 <= summary["accuracy"] <= 100


SUBPROCESS_CASES = [
    ["train", "--steps", "-5"],
    ["train", "--target", "folder:/sys/x"],
    ["eval", "--checkpoint", "/sys/x"],
    ["export", "--checkpoint", "mnist->mnistm/dann", "--out", "/sys/x/m.onnx"],
    ["zoo", "rebuild", "--scenario", "nope->mnist"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_CASES, ids=lambda a: " ".join(a)[:40])
def test_real_process_exit_code_and_one_line(argv):
    """The same contract from a real ``python -m core`` (exit status, stderr, no traceback)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and not proc.stdout.strip()


import core.training.engine as _engine  # noqa: E402  (the real functions, kept before the fixture patches them)
import core.evaluation as _evaluation  # noqa: E402

_REAL_TRAIN = _engine.train
_REAL_REPORT = _evaluation.model_report
