"""Candidate duplicate customers for ``data_integrity_analysis``: from the pairs matched ahead of
time (``analytics.customer_pairs``, see ``pipeline_defs/customer_matching.py``) when they can answer,
else by probing the trigram index for every customer in the range; exact normalised matching when
pg_trgm is not installed. Every way gives the same pairs; ``source`` says which was used.

The stored pairs answer when the thresholds are at least the floors they were matched at and at
most ``MAX_LIVE`` customers need a live probe (new or changed since the last matching run, or in the
range but never probed); those are probed live and their pairs replace the stored ones.

Every way returns the pairs alone, (customer_id, duplicate_of); emails and similarities are looked
up for the few shown as examples (at 1M orders a week holds ~8k pairs, and joining all of them back to
the customers cost more than finding them).
"""

from __future__ import annotations

from .registry import Context, fetch
from .templates import template

MAX_LIVE = 100


def _stored(ctx: Context, p: dict) -> tuple[dict, list[dict]] | None:
    (present,) = fetch(ctx, "SELECT to_regclass('analytics.customer_match_floors') IS NOT NULL AS present")
    if not present["present"]:
        return None
    floors = fetch(ctx, template("integrity_match_floors"))
    if not floors or p["name_similarity"] < floors[0]["name_floor"] or p["email_similarity"] < floors[0]["email_floor"]:
        return None
    live = [r["customer_id"] for r in fetch(ctx, template("integrity_match_pending"), {**p, "limit": MAX_LIVE})]
    if len(live) > MAX_LIVE:
        return None
    pairs = fetch(ctx, template("integrity_duplicates_stored"), {**p, "live": live})
    return {"kind": "stored", "table": "analytics.customer_pairs", "matched_at": floors[0]["matched_at"],
            "matched_live": len(live)}, pairs


def duplicates(ctx: Context, p: dict) -> tuple[str, dict, list[dict]]:
    """(method, source, pairs) for the customers loaded in the range, ordered by the pair's ids."""
    if not ctx.has_trgm:
        return "exact_normalised", {"kind": "live"}, fetch(ctx, template("integrity_duplicates_exact"), p)
    # the live probes go through the email-local-part trigram index at the email threshold
    ctx.cur.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, true)", (str(p["email_similarity"]),))
    stored = _stored(ctx, p)
    if stored is not None:
        return "pg_trgm", *stored
    return "pg_trgm", {"kind": "live"}, fetch(ctx, template("integrity_duplicates_trgm"), p)


def examples(ctx: Context, pairs: list[dict]) -> list[dict]:
    """The pairs with both emails and (with pg_trgm) their similarities, in the same order."""
    if not pairs:
        return []
    name = "integrity_pair_details" if ctx.has_trgm else "integrity_pair_details_exact"
    return fetch(ctx, template(name), {"a": [r["customer_id"] for r in pairs], "b": [r["duplicate_of"] for r in pairs]})
