"""Candidate duplicate customers, matched ahead of time (pg_trgm): ``analytics.customer_pairs``.

A pair is stored when the normalised emails are equal (lower case, dots and +tags removed from the
local part), or when the full-name trigram similarity reaches ``NAME_FLOOR`` and the email-local-part
similarity reaches ``EMAIL_FLOOR`` — the same rule as ``integrity_duplicates_trgm.sql`` at the
lowest thresholds served from here. ``data_integrity_analysis`` filters these pairs by its own
thresholds (when they are at least the floors) instead of probing the trigram index per customer.

``analytics.customer_match_state`` remembers each customer's name and email as the last matching
run saw them, and whether that customer was *probed* (compared with every customer). A run:

1. initialises the state with every customer as seen-but-unprobed if it is empty;
2. probes every *dirty* customer (new, or changed since they were seen) and the requested ones,
   replacing their pairs: each probe compares with everyone as they are now;
3. records what it saw.

So a probed, clean customer's stored pairs are complete against every clean customer: whichever of
the two changed last was probed after that change. The API probes live what this cannot vouch for
(dirty customers, unprobed customers in the range), so its answers stay exact between runs.
Runs hold an advisory lock and one REPEATABLE READ snapshot.
"""

from __future__ import annotations

from datetime import date

import psycopg

NAME_FLOOR = 0.5
EMAIL_FLOOR = 0.6
_LOCK_ID = 7_310_003  # migrations 7_310_001, rollups 7_310_002

_INIT = """
    INSERT INTO analytics.customer_match_state (customer_id, first_name, last_name, email, probed)
    SELECT customer_id, first_name, last_name, email, false FROM warehouse.customers
    WHERE NOT EXISTS (SELECT 1 FROM analytics.customer_match_state)"""

_TO_PROBE = """
    CREATE TEMP TABLE match_probe ON COMMIT DROP AS
    SELECT c.customer_id FROM warehouse.customers c
    LEFT JOIN analytics.customer_match_state s ON s.customer_id = c.customer_id
    WHERE s.customer_id IS NULL
       OR (s.first_name, s.last_name, s.email) IS DISTINCT FROM (c.first_name, c.last_name, c.email)
       OR (%(partition)s::date IS NOT NULL AND c._partition = %(partition)s::date AND NOT s.probed)
       OR (%(since)s::date IS NOT NULL AND c._partition >= %(since)s::date AND NOT s.probed)"""

_STEPS = [
    "DELETE FROM analytics.customer_match_state s"
    " WHERE NOT EXISTS (SELECT 1 FROM warehouse.customers c WHERE c.customer_id = s.customer_id)",
    "DELETE FROM analytics.customer_pairs p"
    " WHERE NOT EXISTS (SELECT 1 FROM warehouse.customers c WHERE c.customer_id = p.a)"
    "    OR NOT EXISTS (SELECT 1 FROM warehouse.customers c WHERE c.customer_id = p.b)",
    "DELETE FROM analytics.customer_pairs WHERE a IN (SELECT customer_id FROM match_probe)",
    "DELETE FROM analytics.customer_pairs WHERE b IN (SELECT customer_id FROM match_probe)",
    "SELECT set_config('pg_trgm.similarity_threshold', %(email_floor)s, true)",
    """INSERT INTO analytics.customer_pairs (a, b, same_email, name_similarity, email_similarity)
    WITH probe AS (
        SELECT c.customer_id, lower(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, '')) AS name,
               split_part(lower(c.email), '@', 1) AS local,
               regexp_replace(split_part(lower(c.email), '@', 1), '[.]|[+].*$', '', 'g') || '@'
                   || split_part(lower(c.email), '@', 2) AS norm_email
        FROM match_probe m JOIN warehouse.customers c ON c.customer_id = m.customer_id
    ),
    found AS (
        SELECT r.customer_id AS x, e.customer_id AS y
        FROM probe r
        JOIN warehouse.customers e ON split_part(lower(e.email), '@', 1) %% r.local AND e.customer_id <> r.customer_id
        WHERE similarity(split_part(lower(e.email), '@', 1), r.local) >= %(email_floor_n)s
          AND similarity(lower(coalesce(e.first_name, '') || ' ' || coalesce(e.last_name, '')), r.name)
              >= %(name_floor)s
        UNION
        SELECT r.customer_id, e.customer_id
        FROM probe r
        JOIN warehouse.customers e
          ON regexp_replace(split_part(lower(e.email), '@', 1), '[.]|[+].*$', '', 'g') || '@'
             || split_part(lower(e.email), '@', 2) = r.norm_email
         AND e.customer_id <> r.customer_id
    ),
    pairs AS (SELECT DISTINCT least(x, y) AS a, greatest(x, y) AS b FROM found)
    SELECT p.a, p.b,
           regexp_replace(split_part(lower(ca.email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(ca.email), '@', 2)
           = regexp_replace(split_part(lower(cb.email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(cb.email), '@', 2),
           similarity(lower(coalesce(ca.first_name, '') || ' ' || coalesce(ca.last_name, '')),
                      lower(coalesce(cb.first_name, '') || ' ' || coalesce(cb.last_name, ''))),
           similarity(split_part(lower(ca.email), '@', 1), split_part(lower(cb.email), '@', 1))
    FROM pairs p
    JOIN warehouse.customers ca ON ca.customer_id = p.a
    JOIN warehouse.customers cb ON cb.customer_id = p.b""",
    """INSERT INTO analytics.customer_match_floors AS f (name, name_floor, email_floor, matched_at)
    VALUES ('customers', %(name_floor)s, %(email_floor_n)s, now())
    ON CONFLICT (name) DO UPDATE SET name_floor = excluded.name_floor, email_floor = excluded.email_floor,
        matched_at = excluded.matched_at""",
    """INSERT INTO analytics.customer_match_state AS s (customer_id, first_name, last_name, email, probed)
    SELECT c.customer_id, c.first_name, c.last_name, c.email, true
    FROM match_probe m JOIN warehouse.customers c ON c.customer_id = m.customer_id
    ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,
        email = excluded.email, probed = true""",
]


def has_trgm(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')").fetchone()[0]


def match_customers(conn: psycopg.Connection, partition: date | None = None, since: date | None = None) -> int | None:
    """One matching run (see the module doc): probes the dirty customers, and the unprobed ones of
    ``partition`` / of partitions from ``since`` on. Commits; returns how many customers were probed,
    None without pg_trgm (the API then matches exact normalised values, live)."""
    if not has_trgm(conn):
        return None
    conn.commit()
    previous = conn.autocommit
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.autocommit = False
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.execute(_INIT)
            conn.execute(_TO_PROBE, {"partition": partition, "since": since})
            probed = conn.execute("SELECT count(*) FROM match_probe").fetchone()[0]
            for statement in _STEPS:
                conn.execute(statement, {"email_floor": str(EMAIL_FLOOR), "email_floor_n": EMAIL_FLOOR,
                                         "name_floor": NAME_FLOOR})
    finally:
        conn.autocommit = True
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
        conn.autocommit = previous
    return probed
