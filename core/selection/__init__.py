"""Choosing without target labels: ``tune`` searches one method's settings, ``recommend`` picks a method.

Both train through :func:`core.selection.scoring.train_and_score` (the engine holds out the source
validation split; each model's evidence is gathered once from the tensors it trained on) and rank
models by a label-free validator (:mod:`core.validators`, higher is better) with one rule,
:func:`core.selection.choice.choose`, which the zoo applies too. Target *test* labels, where the target has
them, are read only to report how good the choice was — never to make it::

    from core.selection import tune, recommend
    study = tune("dann", "mnist", "mnistm", trials=8, validator="im")
    study["best"]["params"], study["spearman"]      # chosen settings; validator-vs-accuracy rank correlation
    rec = recommend("mnist", "folder:my_pictures")
    rec["recommended"], rec["checkpoint"]

``tune`` samples with Optuna's TPE over the method's declared search space (each
``Hyper(search=...)``) plus the learning rate; a diverging trial (:class:`core.training.engine.TrainingError`)
is recorded as failed and the search goes on. ``storage`` (``sqlite:///study.db`` or any SQLAlchemy
URL) shares one study between processes or machines. ``recommend`` trains every candidate method
(the registry's unsupervised / source-free methods that need no target labels, plus source-only as
the fallback) with its default settings and keeps the one the validator scores highest.
Which validator is the default is decided by a measurement (the validator study, docs/validators.md).

One module, one job: :mod:`.scoring` (candidates, train and score one), :mod:`.choice` (the
label-free choice), :mod:`.tune`, :mod:`.recommend`.
"""

from .choice import AGREEMENT_MARGIN, choose, choose_agreeing, seed_agreement
from .recommend import recommend
from .scoring import (DEFAULT_VALIDATOR, RECOMMEND_STEPS, SINGLE_MODEL_DEFAULT, candidate_methods, check_validator,
                      default_validator, is_candidate,
                      run_config, settings_of, target_test_accuracy, train_and_score)
from .tune import LR_SEARCH, STORAGE_FORMS, open_storage, search_space, study_name, tune

__all__ = ["AGREEMENT_MARGIN", "DEFAULT_VALIDATOR", "LR_SEARCH", "RECOMMEND_STEPS", "SINGLE_MODEL_DEFAULT", "STORAGE_FORMS", "candidate_methods", "choose_agreeing", "seed_agreement",
           "default_validator",
           "check_validator", "choose", "is_candidate", "open_storage", "recommend", "run_config", "search_space",
           "settings_of", "study_name", "target_test_accuracy", "train_and_score", "tune"]
