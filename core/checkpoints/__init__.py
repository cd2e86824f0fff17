"""Checkpoints: a safetensors state dict plus a JSON model card, and nothing that can run code.

Format (``shiftlab-checkpoint/1``)
---------------------------------
A checkpoint is a **folder** holding exactly the two files that matter::

    my-run/
        model.safetensors   # the model's state_dict (float tensors fp32, or fp16 with half=True)
        card.json           # the model card, a JSON object (see below)

A **zip** of those two files, either at the zip root or inside one top-level folder, is
accepted by :func:`load` too (that is what :func:`save_zip` and :func:`to_zip_bytes` write,
for downloads and uploads).

``card.json`` required keys:

* ``format`` – the string ``"shiftlab-checkpoint/1"``;
* ``model`` – the :func:`core.models.build_model` spec (``arch``, ``num_classes``,
  ``input_size``, ``width``, ``feature_dim``, ``batch_norm``); the architecture is rebuilt from it,
  never from code in the file (a ``weights_path`` key is refused);
* ``class_names`` – list of str, as many as the spec's ``num_classes``;
* ``method``, ``source``, ``target`` – str (the adaptation method and the domains);
* ``input_size`` – int, equal to the spec's input size.

Optional (recorded by :func:`make_card`): ``name``, ``backbone``, ``metrics`` (name → number or null),
``hyperparameters`` (dict), ``seed``, ``training_seconds``, ``device``, ``versions`` (torch,
torchvision, python, shiftlab), ``created`` (ISO 8601), ``history`` (list), ``extras`` (name → module spec: modules saved beside the
classifier, e.g. a pixel-level GAN's generator, tensors prefixed ``extras.<name>.``).  Other keys
are kept.  Cards are strict JSON (no NaN).

The package, one job per module: :mod:`.card` (schema), :mod:`.tensors` (safetensors header and
weights checks), :mod:`.archive` (zips), :mod:`.store` (folders on disk and :func:`load`).

Guarantees
----------
* **No code execution.** :func:`load` reads only JSON (``json``) and safetensors
  (``safetensors``); pickles (``.pt``/``.pth``/``.pkl``/``.bin``/``.ckpt``, ``torch.save``
  output, a pickle renamed ``model.safetensors`` or hidden in a zip) are refused with
  :class:`BadCheckpoint` before anything unpickles them.
* **Validated.** Card keys and types, the format string, the spec (unknown ``arch``/keys),
  class count, file sizes (``max_bytes``), zip member count (≤ 10), zip uncompressed total
  (≤ ``max_bytes``), zip member paths (no ``..``/absolute paths), the safetensors header, tensor
  names (missing/unexpected are named), shapes and dtypes (F16/F32/F64/I64/BOOL only; cast to
  the model's dtype) and finiteness (NaN/Inf weights are refused) are all checked, against a model built on the ``meta`` device first so a
  hostile card cannot make us allocate a huge model.  Every failure inside :func:`load`
  surfaces as :class:`BadCheckpoint` (a ``ValueError``), never a raw ``KeyError`` etc.
  (Only a bad ``device`` *argument* raises a plain ``ValueError``.)
* **Atomic save.** :func:`save` writes both files into a temporary sibling folder
  (``.NAME.tmp-PID-RANDOM``), fsyncs them, then swaps it in with :func:`core.util.files.swap_dir_in`:
  ``NAME`` → ``NAME.old``, temp → ``NAME``, delete ``NAME.old``.  A reader therefore always finds
  a complete checkpoint, old or new.  The one window where ``NAME`` does not exist (between the
  two renames) is covered by :func:`load` falling back to ``NAME.old``; a process killed in that
  window leaves ``NAME.old`` behind, which :func:`load` reads and the next :func:`save` restores.
  Temp folders of killed writers are removed by the next :func:`save` (POSIX).  A folder is read
  through one directory handle, so the card and the weights always come from the same version.
  Concurrent *writers* to one path are not supported.  An existing ``NAME`` that is not a
  checkpoint folder (anything besides model.safetensors + card.json) is never replaced.
  :func:`save_zip` writes a temp file and ``os.replace``-s it.
"""

from .archive import MAX_ZIP_MEMBERS
from .card import (CARD_FORMAT, CARD_NAME, MAX_CARD_BYTES, MAX_INPUT_SIZE, REQUIRED_KEYS, WEIGHTS_NAME, BadCheckpoint,
                   make_card, strict_json, validate_card)
from .store import CHECKPOINT_FILES, MAX_BYTES, load, load_with_extras, save, save_zip, to_zip_bytes
from .tensors import size_bytes

__all__ = [
    "BadCheckpoint", "CARD_FORMAT", "CARD_NAME", "CHECKPOINT_FILES", "MAX_BYTES", "MAX_CARD_BYTES", "MAX_INPUT_SIZE",
    "MAX_ZIP_MEMBERS", "REQUIRED_KEYS", "WEIGHTS_NAME", "load", "load_with_extras", "make_card", "save", "save_zip",
    "size_bytes", "strict_json", "to_zip_bytes", "validate_card",
]
