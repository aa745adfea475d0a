-- The %(seeds)s customers with the most all-time revenue per currency (analytics.customer_revenue):
-- their revenue in the range bounds from below the revenue a top-N customer needs.
SELECT x.customer_id
FROM (SELECT DISTINCT currency FROM analytics.revenue_monthly
      WHERE %(currency)s::text IS NULL OR currency = %(currency)s::text) c
CROSS JOIN LATERAL (SELECT r.customer_id FROM analytics.customer_revenue r WHERE r.currency = c.currency
                    ORDER BY r.revenue DESC LIMIT %(seeds)s) x
