-- Candidate duplicate customers (pg_trgm): customers loaded in the range compared with everyone.
-- A pair is a candidate when the normalised emails are equal (lower case, dots and +tags removed
-- from the local part), or when both the full-name and the email-local-part trigram similarities
-- reach their thresholds. The trigram index on email local parts serves that join (the session's
-- similarity threshold is set to email_similarity first); the name similarity filters its matches.
WITH recent AS (
    SELECT customer_id, lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) AS name,
           split_part(lower(email), '@', 1) AS local,
           regexp_replace(split_part(lower(email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(email), '@', 2) AS norm_email
    FROM warehouse.customers
    WHERE _partition BETWEEN %(start_date)s AND %(end_date)s
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
pairs AS (
    SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b FROM (SELECT * FROM by_name UNION ALL SELECT * FROM by_email) x
)
SELECT a AS customer_id, b AS duplicate_of FROM pairs ORDER BY a, b
