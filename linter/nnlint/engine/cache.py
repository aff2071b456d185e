"""On-disk cache of findings, keyed by content + path + configuration + nnlint build.

One small JSON file per entry under ``.nnlint_cache/`` in the project root. Entries are
written with :func:`nnlint.engine.atomic_write.write_atomic`, so concurrent runs
(pre-commit and an editor, two CI jobs) never read a half-written entry; the worst case
is that both compute the same entry. Any unreadable, corrupt or wrongly shaped entry is
a miss.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from nnlint import __version__
from nnlint.engine.atomic_write import write_atomic
from nnlint.findings import Finding, Fix

CACHE_DIR_NAME = ".nnlint_cache"


@cache
def build_stamp() -> str:
    """Digest of nnlint's own source files: editing a rule invalidates the cache."""
    package = Path(__file__).parents[1]  # the nnlint package, not engine/
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
        """The cached findings, or None (a miss) for a missing, unreadable, corrupt
        or wrongly shaped entry: the file is then linted and the entry rewritten."""
        try:
            raw = self._entry(key).read_text(encoding="utf-8")
            items = json.loads(raw)
        except (OSError, ValueError):
            return None
        if not isinstance(items, list) or not all(map(_well_formed, items)):
            return None
        return [finding_from_dict(item) for item in items]

    def put(self, key: str, findings: list[Finding]) -> None:
        entry = self._entry(key)
        payload = json.dumps([finding.to_dict() for finding in findings])
        try:
            self._prepare(entry.parent)
            write_atomic(entry, payload.encode("utf-8"), durable=False)
        except OSError:
            pass  # a read-only checkout only loses the speed-up, never the result

    def _prepare(self, directory: Path) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            marker = self.directory / ".gitignore"
            if not marker.exists():
                write_atomic(marker, b"# created by nnlint\n*\n", durable=False)
            self._ready = True
        directory.mkdir(exist_ok=True)


_FIELDS = {
    "path": str, "line": int, "column": int, "end_line": int, "end_column": int,
    "code": str, "name": str, "message": str, "severity": str,
}  # fmt: skip


def _well_formed(item: object) -> bool:
    """Whether ``item`` is what :meth:`Finding.to_dict` wrote (a hand-edited or
    foreign file can hold any JSON)."""
    if not isinstance(item, dict) or set(item) != {*_FIELDS, "fix"}:
        return False
    if not all(type(item[key]) is kind for key, kind in _FIELDS.items()):
        return False
    if item["severity"] not in ("error", "warning", "info"):
        return False
    fix = item["fix"]
    return fix is None or (
        isinstance(fix, dict)
        and isinstance(fix.get("description"), str)
        and isinstance(fix.get("safe"), bool)
    )


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
