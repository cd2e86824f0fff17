import numpy as np
import torch

from ui.images import upscale_nearest


def test_upscale_nearest():
    img = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).reshape(2, 3, 2, 2)
    out = upscale_nearest(img, 3)
    assert out.shape == (2, 6, 6, 3)
    assert (out[0, :3, :3, 0] == int(img[0, 0, 0, 0])).all()
    assert upscale_nearest(img[0], 2).shape == (4, 4, 3)
    assert upscale_nearest(torch.rand(3, 2, 2), 1).dtype == np.uint8
