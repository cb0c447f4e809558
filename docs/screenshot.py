"""Regenerate docs/report.png: the pair browser of the demo run's report.html, in Chromium.

Runs the README's first command (psnr at 1, 2, 4, 8 keyframes on the built-in demo data) into a
temporary folder, opens its report.html in Debian's Chromium (headless, through Playwright),
shows the first disagreement with both videos paused on a keyframe, and saves the page as a
256-colour PNG (small enough to commit).

    uv run python docs/screenshot.py [--out docs/report.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Make the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    args = parser.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                *(sys.executable, str(ROOT / "experiments" / "agreement.py"), "--quiet"),
                *("--judge", "psnr", "--frames", "1,2,4,8", "--out", tmp, "--run-id", "demo"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        page_path = Path(tmp) / "demo" / "report.html"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium"
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(page_path.as_uri() + "#pairs")
            page.select_option("#f-frames", "4")
            deadline = time.monotonic() + 20
            while not page.evaluate(
                "[...document.querySelectorAll('#pair video')].every(v => v.readyState >= 2)"
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("the demo's videos did not load in Chromium")
                page.wait_for_timeout(50)
            page.locator(".timeline .kf").nth(1).click()  # both videos seek to a keyframe
            page.wait_for_timeout(300)
            shot = Path(tmp) / "shot.png"
            page.screenshot(path=str(shot))
            browser.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(shot).convert("RGB").quantize(256).save(args.out, optimize=True)
    print(f"{args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
