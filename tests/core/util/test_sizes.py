"""The one byte-size formatter (core/util/sizes.py): binary units, a limit printed as it was set."""

from __future__ import annotations

from core.studies.zoo_build import MAX_TOTAL_BYTES
from core.util.sizes import format_bytes


def test_binary_units_with_one_decimal():
    assert format_bytes(0) == "0 bytes" and format_bytes(1) == "1 byte" and format_bytes(1023) == "1023 bytes"
    assert format_bytes(1024) == "1.0 KiB" and format_bytes(12_800) == "12.5 KiB"
    assert format_bytes(21 * 2**20) == "21.0 MiB" and format_bytes(3 * 2**30) == "3.0 GiB"


def test_a_limit_reads_as_it_was_set():
    assert format_bytes(MAX_TOTAL_BYTES, trim=True) == "30 MiB"  # not "31 MB"
    assert format_bytes(1536 * 2**20, trim=True) == "1.5 GiB"
