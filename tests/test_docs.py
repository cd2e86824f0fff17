"""The README and docs/ pages: the layer drawing follows core.LAYERS, every relative link and anchor
resolves, the two commands are the ones CI runs, and no page speaks of how the project was made."""

import re
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "pretrained" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Words about the making of the project rather than the software (a Streamlit browser session is
#: a legitimate "session" and is not matched).
MAKING = re.compile(r"\b(this|last|earlier) round|\bprevious (machine|session|round)\b|\blast session\b", re.IGNORECASE)


def _without_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_drawing_lists_the_layers_in_order():
    drawing = re.search(r"```\napp\.py(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert drawing, "the README's layout drawing (a code block starting with app.py) is missing"
    lines = drawing.group(1).splitlines()
    positions = []
    for layer in core.LAYERS:
        for package in layer:
            if package == "__main__":
                continue
            name = package + (".py" if package == "losses" else "/")
            rows = [i for i, line in enumerate(lines) if re.search(rf"(^|\s){re.escape(name)}(\s|$)", line)]
            assert rows, f"core/{name} (core.LAYERS) is missing from the README's drawing"
            positions.append((rows[0], package))
    rows = [row for row, _ in positions]
    assert rows == sorted(rows), f"the drawing's order differs from core.LAYERS: {positions}"


def test_readme_commands_are_the_ones_ci_runs():
    text = README.read_text(encoding="utf-8")
    assert "pip install -r requirements.txt && streamlit run app.py" in text
    assert "bash scripts/ci/test.sh" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^bash scripts/ci/test\.sh\b", ci, flags=re.M), ".ci/run no longer calls the README's test command"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _without_code(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path) if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", _without_code(file.read_text(encoding="utf-8")), flags=re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_no_page_speaks_of_how_the_project_was_made():
    found = []
    for file in [*PAGES, ROOT / "pretrained" / "leaderboard.json"]:
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if MAKING.search(line):
                found.append(f"{file.relative_to(ROOT)}:{n}: {MAKING.search(line).group(0)}")
    assert not found, "\n".join(found)


def test_readme_stays_a_readme():
    """The reference material lives in docs/; the README is what a newcomer reads first."""
    assert len(README.read_text(encoding="utf-8")) < 20_000
