"""The one door for pictures that come from outside: uploads, folders and zips.

Every byte string a user hands us goes through :func:`read_image` (or :func:`read_image_bounded`,
the same decoder reducing a picture meant for a model while it decodes), and every picture that
feeds a model goes through :func:`image_to_tensor`, so training data from folders, evaluation and
uploads are preprocessed identically. Anything that is not a sane picture raises :class:`BadImage`
(a ValueError) saying why; nothing else escapes, and memory and time are bounded whatever the bytes.

One module, one job: :mod:`.decode` (bytes → RGB picture, safely), :mod:`.tensor` (picture → model
input, the normalisations), :mod:`.centre` (make a digit photo MNIST-like), :mod:`.uploads` (a batch
of uploads → inputs + thumbnails, decoded once per distinct file).
"""

from .centre import centre_like_mnist
from .decode import (ALLOWED_FORMATS, MAX_BYTES, MAX_PIXELS, MAX_SIDE, WORKING_SIDE, BadImage, decoded_size,
                     read_image, read_image_bounded, working_side)
from .tensor import NORMALIZE_CHOICES, centre_batch, image_to_tensor, images_to_batch, normalize_mode, read_images

__all__ = ["ALLOWED_FORMATS", "MAX_BYTES", "MAX_PIXELS", "MAX_SIDE", "NORMALIZE_CHOICES", "WORKING_SIDE", "BadImage",
           "centre_batch", "centre_like_mnist", "decoded_size", "image_to_tensor", "images_to_batch",
           "normalize_mode", "read_image", "read_image_bounded", "read_images", "working_side"]
