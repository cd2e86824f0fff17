"""ShiftLab core: domain adaptation in PyTorch.

`core` never imports streamlit; the dashboard in `pages/` only calls into it.
"""

__version__ = "0.2.0"
