-- The lowest thresholds analytics.customer_pairs holds pairs for, and when customers were last matched.
SELECT name_floor, email_floor, matched_at FROM analytics.customer_match_floors WHERE name = 'customers'
