"""Fully offline: no page of the real app asks anything of a host other than the app's own.

Every page of the navigation is opened in headless Chromium; every request the page makes (documents,
scripts, fonts, icons, the tab's favicon, pictures) is logged, and any whose host is not the server's
fails the test with the page and the address.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support.appserver import settle
from ui.shell import HOME, NAVIGATION

pytestmark = pytest.mark.browser

LOCAL_SCHEMES = ("data:", "blob:", "about:")


def _paths() -> list[str]:
    """The URL path of every page in the navigation (the home page is "/")."""
    out = []
    for pages in NAVIGATION.values():
        for entry in pages:
            out.append("" if entry == HOME else Path(entry[0]).stem)
    return out


def outside_requests(page, base_url: str) -> list[tuple[str, str]]:
    """Start logging (page URL, request URL) for every request to another host than ``base_url``'s."""
    own = urlparse(base_url).hostname
    seen: list[tuple[str, str]] = []

    def log(request) -> None:
        if request.url.startswith(LOCAL_SCHEMES):
            return
        if urlparse(request.url).hostname not in (own, "localhost", "127.0.0.1"):
            seen.append((page.url, request.url))

    page.on("request", log)
    return seen


def test_the_paths_cover_every_page():
    assert len(_paths()) == sum(len(p) for p in NAVIGATION.values()) and "" in _paths()


def test_no_page_requests_anything_from_outside_the_machine(server, page):
    outside = outside_requests(page, server)
    visited = []
    for path in _paths():
        page.goto(f"{server}/{path}")
        settle(page, timeout=120)
        time.sleep(0.5)  # late requests: the favicon, icons drawn after the last rerun
        visited.append(path or "/")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not outside, "requests to other hosts:\n" + "\n".join(f"{p} -> {u}" for p, u in outside)
    assert len(visited) == len(_paths())
