"""One file through the engine: decode, lint, select, suppress, cache.

What :mod:`nnlint.api` calls per file, and what every pool worker runs on its chunk
(:func:`lint_uncached`), so the engine never imports the API above it. Bad files
become findings (NNL001 syntax error, NNL002 undecodable file), never exceptions.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.engine.cache import CACHE_DIR_NAME, FindingCache, entry_key
from nnlint.engine.config import LintConfig
from nnlint.engine.discovery import MissingPath
from nnlint.engine.noqa import (
    Suppressions,
    apply_suppressions,
    parse_suppressions,
    unused_codes,
)
from nnlint.engine.sourcefile import UndecodableSource, decode
from nnlint.findings import Finding, Fix

if TYPE_CHECKING:
    from nnlint.rules import Rule

# The rule modules (and libcst) are imported only when a file is actually linted: a
# run answered entirely from the cache never pays for them.
UNDECODABLE = ("NNL002", "undecodable-file", "the file cannot be decoded")
UNUSED_NOQA = ("NNL003", "unused-noqa", "unused suppression")


class InternalError(RuntimeError):
    """A rule or the engine failed on a file (a bug in nnlint, not in user code)."""


def all_rules() -> tuple[type[Rule], ...]:
    """The rule registry (imported on first use)."""
    from nnlint.rules import all_rules as registry

    return registry()


def selected_rules(config: LintConfig, path: str) -> list[type[Rule]]:
    """Source rules (engine-level ones included) that apply to ``path``."""
    return [rule for rule in all_rules() if config.applies(rule.CODE, path)]


def lint_text(data: bytes | str, path: str, config: LintConfig) -> list[Finding]:
    """Findings for one file's content (no cache). ``bytes`` are decoded like Python."""
    return analyse(data, path, config).findings


@dataclass
class Analysis:
    """What one lint pass over a file produced (the module only when it was parsed)."""

    findings: list[Finding]
    text: str | None = None
    suppressions: Suppressions | None = None


def analyse(data: bytes | str, path: str, config: LintConfig) -> Analysis:
    from nnlint.engine.lint_source import (
        check_source,
    )  # libcst import only when something is parsed

    rules = selected_rules(config, path)
    if isinstance(data, bytes):
        try:
            text = decode(data).text
        except UndecodableSource as error:
            return Analysis(_undecodable(path, error, config))
    else:
        text = data
    try:
        findings, _ = check_source(text, path, rules, prune=True)
    except Exception as error:  # noqa: BLE001 - a rule bug must name the file it hit
        raise InternalError(
            f"while linting {path}: {type(error).__name__}: {error}"
        ) from error
    findings = [f for f in findings if config.applies(f.code, path)]
    suppressions = parse_suppressions(text)
    kept = apply_suppressions(findings, suppressions)
    if config.applies(UNUSED_NOQA[0], path):
        kept += _unused_noqa(path, suppressions, rules, config)
    kept.sort(key=lambda finding: finding.sort_key)
    return Analysis(kept, text, suppressions)


def _undecodable(
    path: str, error: UndecodableSource, config: LintConfig
) -> list[Finding]:
    code, name, message = UNDECODABLE
    if not config.applies(code, path):
        return []
    line, column = error.line, error.column
    text = f"{message}: {error}"
    return [Finding(path, line, column, line, column + 1, code, name, text, "error")]


def _unused_noqa(
    path: str,
    suppressions: Suppressions,
    rules: Sequence[type[Rule]],
    config: LintConfig,
) -> list[Finding]:
    ran = [rule.CODE for rule in rules]
    known = {rule.CODE for rule in all_rules()}

    def is_checked(code: str) -> bool:
        if any(ran_code.startswith(code) for ran_code in ran):
            return True
        # An unknown source code (typo, removed rule) is unused too; graph codes are not
        # checked without --fx.
        return not code.startswith("NNL6") and not any(
            k.startswith(code) for k in known
        )

    code, name, message = UNUSED_NOQA
    findings = []
    for directive in suppressions.directives():
        unused = unused_codes(directive, is_checked)
        if unused:
            text = f"{message}: {', '.join(unused)}"
            line, column, end = directive.line, directive.column, directive.end_column
            where = (path, line, column, line, end)
            findings.append(Finding(*where, code, name, text, severity="warning"))
    return findings


def _light(finding: Finding) -> Finding:
    """The finding without its libcst nodes (cheap to pickle and to cache)."""
    if finding.fix is None or not finding.fix.replacements:
        return finding
    return replace(finding, fix=Fix(finding.fix.description, finding.fix.safe))


def cache_directory(config: LintConfig) -> Path:
    override = os.environ.get("NNLINT_CACHE_DIR")
    if override:
        return Path(override)
    root = config.root or Path.cwd()
    if os.access(root, os.W_OK):
        return root / CACHE_DIR_NAME
    # A read-only checkout: keep the cache in the user's cache directory instead.
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nnlint" / entry_key(b"", str(root.resolve()), "root")[:16]


def lint_one(
    path: Path, config: LintConfig, store: FindingCache | None, fingerprint: str
) -> list[Finding]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingPath(f"{path}: no such file or directory") from None
    except OSError:
        return []  # gone unreadable since it was listed: nothing to say about it
    name = str(path)
    key = entry_key(data, name, fingerprint) if store is not None else ""
    if store is not None:
        cached = store.get(key)
        if cached is not None:
            return cached
    findings = [_light(finding) for finding in lint_text(data, name, config)]
    if store is not None:
        store.put(key, findings)
    return findings


def lint_uncached(files: Sequence[Path], config: LintConfig) -> list[list[Finding]]:
    """Serial worker body (also what each pool process runs on its chunk).

    The collector's automatic runs are paused meanwhile, and its youngest generation
    collected after each file instead. A parsed tree is millions of objects; left to
    run automatically, the collector promoted every tree to older generations and
    scanned it again and again: 15% of a run on timm (``bench/lint_processes.py``).
    The engine now breaks the reference cycles that held a tree (the analyses'
    links, ``AnalysisContext.close``; the rules' own state,
    ``lint_source._forget``; the screens' index), so a tree is freed by reference
    counting when its file is done, and the collection after each file only sweeps
    the little that is left (closures of ``ast.literal_eval``, a rule's cycle not
    yet known) before it is promoted.
    """
    automatic = gc.isenabled()
    gc.disable()
    try:
        results = []
        for file in files:
            results.append(lint_one(file, config, None, ""))
            gc.collect(0)
        return results
    finally:
        if automatic:
            gc.enable()
