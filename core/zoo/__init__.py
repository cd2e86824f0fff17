"""The pretrained model zoo: shipped checkpoints the app loads instantly, their leaderboard, and how
to rebuild them. One module, one job: :mod:`.index` (names, cards, weights, maps), :mod:`.leaderboard`
(numbers and published references), :mod:`.rebuild` (training and shipping; import it explicitly,
it pulls in the training engine).

A zoo **name** reads ``SOURCE->TARGET/METHOD``, e.g. ``mnist->mnistm/dann``.
"""

from .index import (ALIGNMENT_NAME, ENV_VAR, REBUILD_COMMAND, ZOO_DIR, ZooError, alignment, available_message, card,
                    entries, load, make_name, method_order, model_dir, names, parse_name, SCENARIOS, scenario_key, scenarios,
                    zoo_dir)
from .leaderboard import (LEADERBOARD_NAME, PUBLISHED, PUBLISHED_NOTE, leaderboard, leaderboard_rows, markdown_table,
                          method_label)

__all__ = [
    "ALIGNMENT_NAME", "ENV_VAR", "LEADERBOARD_NAME", "PUBLISHED", "PUBLISHED_NOTE", "REBUILD_COMMAND", "ZOO_DIR",
    "ZooError", "alignment", "available_message", "card", "entries", "leaderboard", "leaderboard_rows", "load",
    "make_name", "markdown_table", "method_label", "method_order", "model_dir", "names", "parse_name",
    "SCENARIOS", "scenario_key", "scenarios", "zoo_dir",
]
