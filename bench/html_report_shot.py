"""Render an nnhealth HTML report in headless Chromium and save a PNG screenshot.

    pytest --nnhealth --nnhealth-report=health.html
    .venv/bin/python bench/html_report_shot.py health.html health.png [--height 4000]

Needs Debian's ``chromium`` package (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_nnhealth.reporting.browser import dump_dom, find_chromium, screenshot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        parser.error("chromium not found: apt-get install -y chromium")
    screenshot(args.report, args.png, chromium=chromium, size=(args.width, args.height))
    sections = dump_dom(args.report, chromium=chromium).count('<section class="model ')
    print(f"{args.png}: screenshot of {args.report} ({sections} model sections)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
