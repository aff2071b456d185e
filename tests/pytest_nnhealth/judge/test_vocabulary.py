"""docs/health/ and the names declared in judge/quantities.py agree (no torch)."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_nnhealth.judge import quantities as Q

HEALTH = Path(__file__).resolve().parents[3] / "docs" / "health"
INDEX = HEALTH / "index.md"


def _symptoms_paragraph() -> str:
    text = INDEX.read_text()
    start = text.index("The `check` field of every finding is one of:")
    return text[start : text.index("\n\n", start)]


def test_the_symptom_list_in_the_docs_is_the_vocabulary():
    listed = re.findall(r"`([a-z_]+)`", _symptoms_paragraph())
    assert [name for name in listed if name != "check"] == list(Q.SYMPTOMS)
    assert f"`{Q.GRAPH_PREFIX}<CODE>`" in _symptoms_paragraph()


def test_the_quantity_table_names_known_symptoms_and_covers_the_core():
    table = INDEX.read_text().split("## Symptoms")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")][2:]
    named = {n for row in rows for n in re.findall(r"`([a-z_]+)`", row.split("|")[2])}
    assert named <= set(Q.SYMPTOMS)
    assert set(Q.CORE_SYMPTOMS) <= named


def test_every_page_uses_declared_names():
    pages = {page.name: page.read_text() for page in HEALTH.glob("*.md")}
    series = {
        (name, key)
        for name, text in pages.items()
        for key in re.findall(r'series\["([a-z_]+)"\]', text)
    }
    assert all(Q.is_declared_series(key) for _, key in series), series
    # Every core series is documented on some page.
    assert set(Q.CORE_SERIES) - {Q.ACT_BATCH_STD} <= {key for _, key in series}
    headings = {
        name: re.findall(r"^# .*\(`([a-z_]+)`", text, re.MULTILINE)
        for name, text in pages.items()
    }
    for name, found in headings.items():
        assert set(found) <= set(Q.SYMPTOMS), (name, found)


def test_the_moe_page_lists_exactly_the_routing_series():
    text = (HEALTH / "moe.md").read_text()
    table = text.split("## Which routers are found")[0]
    listed = re.findall(r"^\| `([a-z_]+(?:\.<e>)?)` \|", table, re.MULTILINE)
    keys = [key.replace(".<e>", ".0") for key in listed]
    assert all(Q.is_declared_series(key) for key in keys), keys
    expected = [*Q.ROUTER_SERIES, *(Q.expert_key(q, 0) for q in Q.PER_EXPERT)]
    assert sorted(keys) == sorted(expected)


def test_per_head_keys_are_declared_through_their_quantity():
    assert Q.head_key(Q.ATTN_ENTROPY, 3) == "attn_entropy_h3"
    assert Q.is_declared_series("attn_entropy_h3")
    assert Q.is_declared_series(Q.LOGIT_LSE)
    assert not Q.is_declared_series("act_std_h1")
    assert not Q.is_declared_series("attn_entropy_hx")
    assert Q.expert_key(Q.EXPERT_TOKENS, 3) == "expert_tokens.3"
    assert Q.is_declared_series("expert_bias.12")
    assert not Q.is_declared_series("expert_tokens.x")
    assert not Q.is_declared_series("act_std.0")
