"""ShiftLab core: domain adaptation in PyTorch.

`core` never imports streamlit; the dashboard in `pages/` only calls into it (pages → ui → core).

The packages, bottom to top (:data:`LAYERS`). A module imports only its own package and the
packages below it — imports inside functions included; tests/test_architecture.py checks it:

    util                    small shared idioms: files, devices, settings, statistics, modes
    imageio, losses         pictures from outside; the maths of every loss
    data, synth, models     domains (and the splits, feeds and scenarios over them); unseen-domain
                            generators; networks
    checkpoints, evaluation files that hold weights (the one door); measuring a model
    methods, validators,    what trains; what scores a model without labels; what estimates its
    estimators              accuracy without labels
    zoo                     the shipped models: names, cards, loading, the leaderboard as data
    inference, tta          predicting uploads, reading pictures right; adapting to pictures at test time
    training                the run plan and the one training loop
    jobs, selection         background runs for the app; choosing without target labels
    studies, bench          building the zoo, the universal model, studies; benchmarks
    cli                     ``python -m core``
"""

__version__ = "0.2.0"

#: The layer order of core's packages, bottom first; within a layer, earlier before later.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("util",),
    ("imageio", "losses"),
    ("data", "synth", "models"),
    ("checkpoints", "evaluation"),
    ("methods", "validators", "estimators"),
    ("zoo",),
    ("inference", "tta"),
    ("training",),
    ("jobs", "selection"),
    ("studies", "bench"),
    ("cli", "__main__"),
)
