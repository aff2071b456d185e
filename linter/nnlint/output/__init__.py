"""Renderers: pure functions from findings to text (one module per output format)."""

from __future__ import annotations

FORMATS = ("text", "json", "github", "sarif")
