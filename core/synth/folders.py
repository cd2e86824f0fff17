"""Writing unseen domains to disk in the ImageFolder layout ``folder:`` domains read
(``OUT/{train,test}/<class>/<i>.<ext>``), with a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Callable


from .recipes import DOMAINS, sample, writers
from .texture import encode


def write_domain(name: str, out_dir, n_per_class: int = 50, n_test_per_class: int = 30, seed: int = 0) -> Path:
    """Write ``out_dir/{train,test}/<class>/<i>.<ext>`` (what ``folder:out_dir`` reads); returns the path.

    ``n_per_class`` train pictures (unlabelled data for adaptation) and ``n_test_per_class`` test
    pictures per class. Pictures an earlier call left there (files named ``<number>.png|jpg``)
    are removed first, other files are left alone; the result depends only on the arguments
    (same seed → byte-identical files).
    """
    if name not in DOMAINS:
        raise KeyError(f"unknown unseen domain {name!r}; choose from {', '.join(DOMAINS)}")
    if n_per_class < 1 or n_test_per_class < 1:
        raise ValueError("need at least one train and one test picture per class (folder: reads both splits)")
    out = Path(out_dir)
    pool = writers(name, seed)
    for split, n in (("train", n_per_class), ("test", n_test_per_class)):
        for c in range(10):
            folder = out / split / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                if old.is_file() and old.suffix in (".png", ".jpg") and old.stem.isdigit():
                    old.unlink()
            for i in range(n):
                img, ext, kw = sample(name, c, i, split, seed, pool)
                (folder / f"{i}.{ext}").write_bytes(encode(img, ext, **kw))
    return out


def write_all(out_dir, domains=None, n_per_class: int = 50, n_test_per_class: int = 30, seed: int = 0,
              log: Callable[[str], None] | None = None) -> dict:
    """Write every domain in ``domains`` (default: all of :data:`DOMAINS`) to ``out_dir/<domain>``.

    Also writes ``out_dir/manifest.json`` (seed, counts, descriptions) and returns its content.
    """
    import json
    import time

    names = list(domains) if domains else list(DOMAINS)
    unknown = [n for n in names if n not in DOMAINS]
    if unknown:
        raise KeyError(f"unknown unseen domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"seed": seed, "n_per_class_train": n_per_class, "n_per_class_test": n_test_per_class,
                "classes": [str(c) for c in range(10)], "domains": {}}
    for name in names:
        t0 = time.perf_counter()
        write_domain(name, out / name, n_per_class, n_test_per_class, seed)
        seconds = time.perf_counter() - t0
        manifest["domains"][name] = {"path": str(out / name), "spec": f"folder:{out / name}",
                                     "description": DOMAINS[name].description, "seconds": round(seconds, 2)}
        if log:
            log(f"{name:<14} {10 * (n_per_class + n_test_per_class):>5} pictures in {seconds:5.1f} s -> {out / name}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest
