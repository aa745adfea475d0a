-- Customers analytics.customer_pairs cannot vouch for: new or changed since the last matching run
-- saw them, or in the range but never probed. At most %(limit)s + 1 of them.
SELECT c.customer_id
FROM warehouse.customers c
LEFT JOIN analytics.customer_match_state s ON s.customer_id = c.customer_id
WHERE s.customer_id IS NULL
   OR (s.first_name, s.last_name, s.email) IS DISTINCT FROM (c.first_name, c.last_name, c.email)
   OR (NOT s.probed AND c._partition BETWEEN %(start_date)s AND %(end_date)s)
LIMIT %(limit)s + 1
