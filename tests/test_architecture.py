"""The house rules, checked: core never imports streamlit, no import cycles in core/ or ui/ (imports
inside functions count), nothing outside core/methods/ spells a method name, and one new method file
is all it takes for a method to reach the CLI and the Train page."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    root = ROOT / package
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``name`` imports anywhere in its file (function bodies too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            while c and c not in known:
                c = c.rsplit(".", 1)[0] if "." in c else ""
            if c and c != name and not name.startswith(c + "."):  # a submodule reading its package: not an edge
                found.add(c)
    return found


def _cycles(package: str) -> list[list[str]]:
    mods = _modules(package)
    graph = {m: _imports(m, p, set(mods)) for m, p in mods.items()}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _rank(module: str) -> tuple[int, int] | None:
    """(layer, position within the layer) of a core module's top package (:data:`core.LAYERS`)."""
    from core import LAYERS

    top = module.split(".")[1] if module.count(".") else None
    for level, names in enumerate(LAYERS):
        if top in names:
            return level, names.index(top)
    return None


def upward_imports(package: str = "core") -> list[str]:
    """Every import in ``package`` (function bodies included) that points to a package above the
    importer's in :data:`core.LAYERS` (or to one of its layer listed after it)."""
    mods = _modules(package)
    bad = []
    for name, path in mods.items():
        if name == package:
            continue
        mine = _rank(name)
        assert mine is not None, f"{name} belongs to no layer of core.LAYERS: add its package there"
        for target in _imports(name, path, set(mods)):
            theirs = _rank(target)
            if target == package or theirs is None or target.split(".")[1] == name.split(".")[1]:
                continue
            if theirs > mine:
                bad.append(f"{name} -> {target}")
    return sorted(bad)


def test_every_core_package_is_in_a_layer_and_no_import_points_up():
    assert upward_imports() == []


def test_the_layer_check_finds_an_upward_import(tmp_path):
    (tmp_path / "core" / "util").mkdir(parents=True)
    (tmp_path / "core" / "training").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "util" / "__init__.py").write_text("")
    (tmp_path / "core" / "training" / "__init__.py").write_text("")
    (tmp_path / "core" / "util" / "files.py").write_text("def f():\n    from ..training import engine\n")
    (tmp_path / "core" / "training" / "engine.py").write_text("from ..util import files\n")
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        found = upward_imports()
        assert "core.util.files -> core.training.engine" in found
        assert all(edge.startswith("core.util.files -> core.training") for edge in found)
    finally:
        globals()["ROOT"] = saved


def test_the_dashboard_points_down():
    """pages → ui → core: core imports neither ui nor pages, ui never imports pages."""
    offenders = []
    for package, forbidden in (("core", ("ui", "pages", "app")), ("ui", ("pages", "app"))):
        for name, path in _modules(package).items():
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                offenders += [f"{name} -> {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


@pytest.mark.parametrize("package", ["core", "ui"])
def test_no_import_cycles(package):
    assert _cycles(package) == []


def test_the_cycle_finder_finds_cycles(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from .a import f\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path, raising=False)
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        assert _cycles("pkg") == [["pkg.a", "pkg.b"]]
    finally:
        globals()["ROOT"] = saved


def test_core_never_imports_streamlit():
    offenders = []
    for name, path in _modules("core").items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [name for n in names if n.split(".")[0] == "streamlit"]
    assert offenders == []


def test_no_method_name_is_spelled_outside_its_file():
    """The registry is the single source of truth: ui/, pages/ and core outside core/methods/ never
    write a method's name as a string (widget keys and file names aside)."""
    from core.methods import METHODS

    from core.models import SPEC_KEYS

    names = set(METHODS) - SPEC_KEYS  # an architecture option may share a method's name (MixStyle)
    hits = []
    files = [p for pkg in ("core", "ui", "pages") for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "app.py"]
    files.remove(ROOT / "core" / "bench" / "__init__.py")  # the benchmark measures DANN's step by definition
    for path in files:
        if "methods" in path.relative_to(ROOT).parts[:2]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        keys = {id(kw.value) for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords
                if kw.arg == "key"}
        published = {id(c) for n in ast.walk(tree) if isinstance(n, ast.Dict) for c in n.keys
                     if isinstance(c, ast.Constant)}  # reference tables keyed by a paper's method
        published |= {id(n.slice) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}  # data keys
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
                    and id(node) not in keys and id(node) not in published):
                hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert hits == []


# ---------------------------------------------------------------------- one file is a method

@pytest.fixture
def extra_method():
    """A method defined in a test, registered at run time, removed afterwards."""
    from core.methods import Batch, Hyper, Method, register, unregister

    @register
    class EntropyNudge(Method):
        """CE on the source plus w · H(target predictions) (entropy minimisation, Grandvalet & Bengio 2005)."""

        name = "entropy_nudge"
        label = "Entropy nudge (test)"
        family = "unsupervised"
        summary = "A method that exists only in this test."
        hyperparameters = {"nudge": Hyper(0.1, "Weight of the target entropy.", 0.0, 1.0, label="Nudge weight w")}

        def loss(self, batch: Batch, progress: float):
            from core.losses import prediction_entropy

            ce = self.cross_entropy(self.model(batch.xs), batch.ys)
            ent = prediction_entropy(self.model(batch.xt)).mean()
            return {"loss": ce + self.hp["nudge"] * ent, "cls": ce, "entropy": ent}

    yield EntropyNudge
    unregister("entropy_nudge")


def test_a_new_method_is_listed_and_trained_by_the_cli(extra_method, tmp_path, capsys):
    from core.cli import main

    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    assert "entropy_nudge" in listing and "Entropy nudge (test)" in listing and "--set nudge=0.1" in listing
    out = tmp_path / "run"
    assert main(["train", "--method", "entropy_nudge", "--steps", "3", "--eval-every", "0", "--set", "nudge=0.5",
                 "--quiet", "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["method"] == "entropy_nudge" and summary["steps"] == 3
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == "entropy_nudge" and card["hyperparameters"]["nudge"] == 0.5


def test_a_new_method_is_on_the_train_page(extra_method, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path / "no-zoo"))
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    at.run()
    assert "Entropy nudge (test)" in at.selectbox(key="train_method").options  # its label
    at.selectbox(key="train_method").set_value("entropy_nudge").run()
    assert not at.exception
    widget = at.get_by_key("train_entropy_nudge_nudge")
    assert widget.label == "Nudge weight w" and widget.value == 0.1 and widget.help == "Weight of the target entropy."
    assert "A method that exists only in this test." in " ".join(c.value for c in at.caption)
