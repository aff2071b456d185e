"""Look at an HTML report the way a person does: headless Chromium (Debian's package).

Used by the browser test and ``bench/html_report_shot.py``; nothing here is needed to
write a report. Chromium runs with networking features off and a throw-away profile.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _run(chromium: str, extra: list[str], page: Path, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="nnhealth-chromium-") as profile:
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            *extra,
            page.as_uri(),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True
        )
    return result.stdout


def dump_dom(page: Path, *, chromium: str, timeout: float = 120) -> str:
    """The DOM after Chromium loaded and laid out ``page``."""
    return _run(chromium, ["--dump-dom"], page.resolve(), timeout)


def screenshot(
    page: Path,
    png: Path,
    *,
    chromium: str,
    size: tuple[int, int] = (1400, 2400),
    timeout: float = 120,
) -> None:
    window = f"--window-size={size[0]},{size[1]}"
    _run(chromium, [f"--screenshot={png.resolve()}", window], page.resolve(), timeout)
