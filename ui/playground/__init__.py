"""The Playground page's parts, one module a concern: :mod:`.controls` (the shift sliders and
presets), :mod:`.run` (the background run), :mod:`.figures` (interactive charts), :mod:`.raster`
(the live picture) and :mod:`.views` (what the page shows before, during and after a run).

The run is a :class:`core.training.playground.Playground` trained in a child process (see
``Playground.start``), one per browser session (kept in ``st.session_state``); it is a few seconds
long, so it needs none of the job manager's slots, heartbeats and orphan handling
(:mod:`ui.training`). While it trains, :func:`live` (a fragment on a timer) streams each new frame
into a placeholder as one picture drawn here with NumPy (:func:`live_picture`); once the run ends
the page reruns once and draws the result as interactive Plotly charts (plain dicts, no
validation) with the one-line reading.
"""

from .controls import controls, pictures_note, presets
from .run import current, running, start
from .views import live, result, show_preview

__all__ = ["controls", "current", "live", "pictures_note", "presets", "result", "running", "show_preview", "start"]
