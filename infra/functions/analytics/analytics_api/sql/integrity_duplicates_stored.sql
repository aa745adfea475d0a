-- integrity_duplicates_trgm.sql from the pairs matched ahead of time (analytics.customer_pairs, at
-- thresholds no higher than these), plus the pairs of the customers in %(live)s matched live: the
-- ones the stored pairs cannot vouch for (see integrity_match_pending.sql). Same pairs, same order.
WITH in_range AS (
    SELECT customer_id FROM warehouse.customers WHERE _partition BETWEEN %(start_date)s AND %(end_date)s
),
recent AS (  -- matched live
    SELECT customer_id, lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) AS name,
           split_part(lower(email), '@', 1) AS local,
           regexp_replace(split_part(lower(email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(email), '@', 2) AS norm_email
    FROM warehouse.customers
    WHERE customer_id = ANY(%(live)s::text[])
),
by_name AS (
    SELECT r.customer_id AS a, e.customer_id AS b
    FROM recent r
    JOIN warehouse.customers e
      ON split_part(lower(e.email), '@', 1) %% r.local
     AND e.customer_id <> r.customer_id
    WHERE similarity(split_part(lower(e.email), '@', 1), r.local) >= %(email_similarity)s
      AND similarity(lower(coalesce(e.first_name, '') || ' ' || coalesce(e.last_name, '')), r.name) >= %(name_similarity)s
),
by_email AS (
    SELECT r.customer_id AS a, e.customer_id AS b
    FROM recent r
    JOIN warehouse.customers e
      ON regexp_replace(split_part(lower(e.email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(e.email), '@', 2) = r.norm_email
     AND e.customer_id <> r.customer_id
),
live_pairs AS (
    SELECT least(a, b) AS a, greatest(a, b) AS b FROM (SELECT * FROM by_name UNION ALL SELECT * FROM by_email) x
),
stored AS (
    SELECT p.a, p.b, p.same_email, p.name_similarity, p.email_similarity
    FROM in_range r JOIN analytics.customer_pairs p ON p.a = r.customer_id
    UNION ALL
    SELECT p.a, p.b, p.same_email, p.name_similarity, p.email_similarity
    FROM in_range r JOIN analytics.customer_pairs p ON p.b = r.customer_id
),
pairs AS (
    SELECT a, b FROM live_pairs
    WHERE a IN (SELECT customer_id FROM in_range) OR b IN (SELECT customer_id FROM in_range)
    UNION
    SELECT a, b FROM stored
    WHERE (same_email OR (name_similarity >= %(name_similarity)s AND email_similarity >= %(email_similarity)s))
      AND NOT (a = ANY(%(live)s::text[])) AND NOT (b = ANY(%(live)s::text[]))
)
SELECT a AS customer_id, b AS duplicate_of FROM pairs ORDER BY a, b
