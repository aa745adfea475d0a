-- Candidate duplicate customers without pg_trgm: exact matching on normalised values. A pair is a
-- candidate when the normalised emails are equal, or when the normalised full names are equal and
-- the email local parts are equal once digits and punctuation are removed.
WITH norm AS (
    SELECT customer_id, _partition, email,
           regexp_replace(lower(coalesce(first_name, '') || coalesce(last_name, '')), '[^a-z]', '', 'g') AS name,
           regexp_replace(split_part(lower(email), '@', 1), '[^a-z]', '', 'g') AS local_letters,
           regexp_replace(split_part(lower(email), '@', 1), '[.]|[+].*$', '', 'g') || '@' || split_part(lower(email), '@', 2) AS norm_email
    FROM warehouse.customers
),
recent AS (SELECT * FROM norm WHERE _partition BETWEEN %(start_date)s AND %(end_date)s),
pairs AS (
    SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b FROM (
        SELECT r.customer_id AS a, e.customer_id AS b
        FROM recent r JOIN norm e ON e.norm_email = r.norm_email AND e.customer_id <> r.customer_id
        UNION ALL
        SELECT r.customer_id, e.customer_id
        FROM recent r JOIN norm e ON e.name = r.name AND e.local_letters = r.local_letters
                                 AND e.customer_id <> r.customer_id AND r.name <> ''
    ) x
)
SELECT a AS customer_id, b AS duplicate_of FROM pairs ORDER BY a, b
