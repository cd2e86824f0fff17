"""Screenshots of the running app for the README and docs/ (docs/screenshots/).

    streamlit run app.py --server.port 8611 &
    python scripts/docs/screenshots.py http://localhost:8611 docs/screenshots

Needs Playwright and Debian's chromium (see scripts/ci/test.sh).
"""

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.appserver import launch_chromium, settle  # noqa: E402


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        for name in ["", "alignment", "compare", "distill", "train"]:
            page.goto(f"{base}/{name}")
            settle(page, timeout=90, quiet=1.5)
            if name == "alignment":
                page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
                time.sleep(2)
            page.screenshot(path=str(out / f"{name or 'overview'}.png"), full_page=False)
        page.goto(f"{base}/predict")
        settle(page, timeout=90, quiet=1.5)
        page.get_by_text("Samples from the target test set", exact=True).click()
        settle(page, timeout=90, quiet=1.5)
        time.sleep(1)
        page.screenshot(path=str(out / "predict.png"), full_page=False)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8501",
         Path(sys.argv[2] if len(sys.argv) > 2 else "docs/screenshots"))
