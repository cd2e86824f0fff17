"""The zoo's leaderboard: mean ± std over seeds of every scenario × method, the label-free choice,
and the published numbers to put beside ours; as data, as table rows and as Markdown."""

from __future__ import annotations

import json
from typing import Any

from ..data.scenarios import Scenario
from .index import REBUILD_COMMAND, ZooError, display_order, method_order, scenario_key, scenarios, zoo_dir

LEADERBOARD_NAME = "leaderboard.json"

# Reference numbers to put beside ours (target test accuracy, %); see ../shared/DESIGN.md.
PUBLISHED: dict[str, dict[str, Any]] = {
    "mnist->mnistm": {
        "label": "MNIST → MNIST-M",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 52.25, "dann": 76.66, "oracle": 95.96},
    },
    "svhn->mnist": {
        "label": "SVHN → MNIST",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 54.90, "dann": 73.85, "oracle": 99.42},
    },
    "synnumbers->svhn": {
        "label": "SynNumbers → SVHN",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 86.74, "dann": 91.09, "oracle": 92.20},
    },
    "mnist->usps": {
        "label": "MNIST → USPS",
        "citation": "Tzeng et al., Adversarial Discriminative Domain Adaptation, CVPR 2017, Table 2 "
                    "(their 'gradient reversal' row is DANN)",
        "results": {"source_only": 75.2, "dann": 77.1, "adda": 89.4},
    },
}
PUBLISHED_NOTE = ("Published numbers use the full datasets (e.g. 55k MNIST / MNIST-M training images) "
                  "and their own networks; ShiftLab's embedded domains are small subsets, so compare "
                  "the gaps between methods rather than the absolute numbers.")


NOT_BUILT_WHY = "not trained for this zoo; `python -m core zoo rebuild` trains them"


def record_not_built(board: dict, why: str | None = None) -> dict:
    """Write into ``board`` (and return) its ``not_built`` block: per scenario, the methods a full
    rebuild trains (:func:`method_order`) that have no entry, and why (``why``, else the reason
    recorded before, else :data:`NOT_BUILT_WHY`). A missing cell is said, never filled in."""
    order = method_order()
    cells = {k: [m for m in order if m not in entries] for k, entries in board.get("scenarios", {}).items()}
    cells = {k: v for k, v in cells.items() if v}
    previous = board.get("not_built") or {}
    board["not_built"] = {"cells": cells, "why": why or previous.get("why") or NOT_BUILT_WHY} if cells else {}
    return board["not_built"]


def leaderboard() -> dict:
    """The leaderboard (``leaderboard.json``): generated, seeds, settings, device, seconds_total,
    scenarios {"mnist->mnistm": {method: {mean, std, values, ...}}} and published reference numbers.

    Without a leaderboard file this returns the same structure with no scenarios (and
    ``generated`` None), so the published numbers can always be shown.
    """
    path = zoo_dir() / LEADERBOARD_NAME
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        board = {"generated": None, "seeds": [], "settings": {}, "device": None,
                 "seconds_total": None, "scenarios": {}}
    except (UnicodeDecodeError, ValueError) as e:
        raise ZooError(f"{path} is not valid JSON ({e}); rebuild it with: {REBUILD_COMMAND}") from e
    if not isinstance(board, dict):
        raise ZooError(f"{path} must hold a JSON object; rebuild it with: {REBUILD_COMMAND}")
    board.setdefault("scenarios", {})
    board.setdefault("published", PUBLISHED)
    board.setdefault("published_note", PUBLISHED_NOTE)
    return board


def leaderboard_rows(board: dict | None = None) -> list[dict]:
    """The leaderboard flattened for a table, one row per (scenario, method).

    Rows of ours (``origin="shiftlab"``): scenario, source, target, method, mean, std, n_seeds,
    values, published (the paper's number for the same scenario and method, or None).
    Then rows of the published scenarios (``origin="published"``): mean = the paper's number,
    std None, plus citation.
    """
    board = leaderboard() if board is None else board
    published = board.get("published") or {}
    meths = display_order()
    scen_order = [scenario_key(*s) for s in scenarios()]

    def order(key: str, seq: list[str]) -> tuple:
        return (seq.index(key) if key in seq else len(seq), key)

    rows = []
    for skey in sorted(board.get("scenarios", {}), key=lambda k: order(k, scen_order)):
        source, target = Scenario.parse(skey)
        paper = (published.get(skey) or {}).get("results", {})
        for method in sorted(board["scenarios"][skey], key=lambda k: order(k, meths)):
            e = board["scenarios"][skey][method]
            rows.append({"origin": "shiftlab", "scenario": skey, "source": source, "target": target,
                         "method": method, "mean": e.get("mean"), "std": e.get("std"),
                         "n_seeds": len(e.get("values") or []), "values": e.get("values"),
                         "teacher": e.get("teacher"), "published": paper.get(method)})
    for skey, info in published.items():
        source, target = Scenario.parse(skey)
        for method, value in sorted((info.get("results") or {}).items(), key=lambda kv: order(kv[0], meths)):
            rows.append({"origin": "published", "scenario": skey, "source": source, "target": target,
                         "method": method, "mean": value, "std": None, "n_seeds": None, "values": None,
                         "teacher": None, "published": value, "citation": info.get("citation")})
    return rows



def method_label(name: str) -> str:
    """A method's display label from the registry (the name itself for a method no longer registered)."""
    from ..methods import METHODS

    cls = METHODS.get(name)
    return cls.label if cls else name


def markdown_table(board: dict | None = None) -> str:
    """The leaderboard as a Markdown table: methods × scenarios, target accuracy mean ± std (%),
    with the published MNIST → MNIST-M numbers beside. This is what docs/results.md's table is."""
    board = leaderboard() if board is None else board
    scen = [k for k in (scenario_key(*s) for s in scenarios()) if k in board.get("scenarios", {})]
    if not scen:
        return f"(no leaderboard yet: {REBUILD_COMMAND})"
    paper = (board.get("published") or {}).get("mnist->mnistm", {}).get("results", {})
    labels = {k: Scenario.parse(k).label for k in scen}
    head = "| method | " + " | ".join(labels[k] for k in scen) + " | MNIST → MNIST-M, DANN paper |"
    lines = [head, "|---" * (len(scen) + 2) + "|"]
    missing = (board.get("not_built") or {}).get("cells") or {}
    shipped = {m for k in scen for m in board["scenarios"][k]} | {m for k in scen for m in missing.get(k, [])}
    for method in [m for m in display_order() if m in shipped]:
        cells = []
        for k in scen:
            e = board["scenarios"][k].get(method)
            if not e or e.get("mean") is None:
                cells.append("not built" if method in missing.get(k, []) else "—")
                continue
            n = len(e.get("values") or [])
            cell = f"{e['mean']:.1f} ± {e['std']:.1f}" if n > 1 else f"{e['mean']:.1f} (1 seed)"
            if e.get("teacher"):
                cell += f" (teacher: {e['teacher']})"
            if ((board.get("recommended") or {}).get(k) or {}).get("method") == method:
                cell = f"**{cell}** ★"
            cells.append(cell)
        ref = paper.get(method)
        lines.append(f"| {method_label(method)} | " + " | ".join(cells)
                     + f" | {ref if ref is not None else '—'} |")
    if missing:
        lines += ["", f"not built: {(board.get('not_built') or {}).get('why', NOT_BUILT_WHY)}"]
    if not any((board.get("recommended") or {}).get(k) for k in scen):
        return "\n".join(lines)
    lines += ["", "★ recommended without target labels (the validator's choice among the candidates whose seeds agree); "
              "the choice of each column:", "",
              "| scenario | recommended (no target labels) | vs source-only | best in hindsight (target labels, reference only) "
              "| validator's Spearman ρ over the runs |", "|---|---|---|---|---|"]
    for k in scen:
        rec = (board.get("recommended") or {}).get(k)
        if not rec:
            continue
        best = (board.get("best_in_hindsight") or {}).get(k) or {}
        sel = (board.get("selection") or {}).get(k) or {}
        gain = rec.get("gain")
        rho = sel.get("spearman")
        lines.append(f"| {labels[k]} | {method_label(rec['method'])} {rec['target_acc_mean']:.1f} "
                     f"({rec.get('n_seeds', '?')} seeds) | {'—' if gain is None else f'{gain:+.1f}'} | "
                     f"{method_label(best.get('method', '—'))} {best.get('target_acc_mean', float('nan')):.1f} | "
                     f"{'—' if rho is None else f'{rho:.2f}'} ({rec.get('validator')}) |")
    return "\n".join(lines)
