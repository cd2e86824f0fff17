"""Byte sizes for people, in binary units — the one formatter every message and log line uses:

    >>> format_bytes(7), format_bytes(12_800), format_bytes(30 * 2**20, trim=True), format_bytes(3 * 2**30)
    ('7 bytes', '12.5 KiB', '30 MiB', '3.0 GiB')

Binary units because the limits are powers of two (``30 * 1024 * 1024``): printed in decimal
megabytes such a limit reads "31 MB", which is no limit anyone set.
"""

from __future__ import annotations

_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def format_bytes(n: int | float, trim: bool = False) -> str:
    """``n`` bytes as "7 bytes", "12.5 KiB", "30.0 MiB" or "1.5 GiB" (one decimal); ``trim`` drops a
    trailing ".0" (for limits: "30 MiB")."""
    n = int(n)
    for unit, scale in _UNITS:
        if abs(n) >= scale:
            text = f"{n / scale:.1f}"
            if trim and text.endswith(".0"):
                text = text[:-2]
            return f"{text} {unit}"
    return f"{n} byte{'' if n == 1 else 's'}"
