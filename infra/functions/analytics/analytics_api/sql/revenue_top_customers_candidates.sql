-- Customers whose all-time revenue in a currency reaches that currency's bar (%(bars)s: the N-th best
-- revenue in the range among the seeds): nobody else can rank in the top N. At most %(limit)s + 1 rows.
SELECT r.customer_id
FROM unnest(%(currencies)s::text[], %(bars)s::numeric[]) AS b(currency, bar)
JOIN analytics.customer_revenue r ON r.currency = b.currency AND r.revenue >= b.bar
LIMIT %(limit)s + 1
