"""On-disk cache of findings, keyed by content + path + configuration + nnlint build.

One small JSON file per entry under ``.nnlint_cache/`` in the project root. Entries are
written to a temporary file and renamed into place, so concurrent runs (pre-commit and
an editor, two CI jobs) never read a half-written entry; the worst case is that both
compute the same entry. Any unreadable entry is treated as a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from nnlint import __version__
from nnlint.findings import Finding, Fix

CACHE_DIR_NAME = ".nnlint_cache"


@cache
def build_stamp() -> str:
    """Digest of nnlint's own source files: editing a rule invalidates the cache."""
    package = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(
            f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        )
    return digest.hexdigest()[:16]


def entry_key(data: bytes, path: str, config_fingerprint: str) -> str:
    digest = hashlib.sha256(data)
    digest.update(b"\0" + path.encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + config_fingerprint.encode() + b"\0" + build_stamp().encode())
    return digest.hexdigest()


class FindingCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._ready = False

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[Finding] | None:
        try:
            raw = self._entry(key).read_text(encoding="utf-8")
            return [finding_from_dict(item) for item in json.loads(raw)]
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def put(self, key: str, findings: list[Finding]) -> None:
        entry = self._entry(key)
        payload = json.dumps([finding.to_dict() for finding in findings])
        try:
            self._prepare(entry.parent)
            handle, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(payload)
            os.replace(temporary, entry)
        except OSError:
            # A read-only checkout only loses the speed-up, never the result.
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(temporary)

    def _prepare(self, directory: Path) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            marker = self.directory / ".gitignore"
            if not marker.exists():
                marker.write_text("# created by nnlint\n*\n", encoding="utf-8")
            self._ready = True
        directory.mkdir(exist_ok=True)


def finding_from_dict(item: dict[str, Any]) -> Finding:
    fix = item.get("fix")
    return Finding(
        path=item["path"],
        line=int(item["line"]),
        column=int(item["column"]),
        end_line=int(item["end_line"]),
        end_column=int(item["end_column"]),
        code=item["code"],
        name=item["name"],
        message=item["message"],
        severity=item["severity"],
        fix=None if fix is None else Fix(fix["description"], bool(fix["safe"])),
    )
