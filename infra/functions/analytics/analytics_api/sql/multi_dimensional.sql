-- Order lines in the window (end_date + 1 day - timeframe .. end_date, UTC) rolled up with
-- GROUPING SETS over category x country x month, per currency. GROUPING() tells the level:
-- bit 4 = category rolled up, 2 = country, 1 = month.
WITH lines AS (
    SELECT o.currency, coalesce(p.category, 'unknown') AS category, coalesce(c.country, 'unknown') AS country,
           date_trunc('month', o.order_ts)::date AS month, o.order_id, i.quantity,
           i.quantity * i.unit_price AS amount
    FROM warehouse.orders o
    JOIN warehouse.order_items i ON i.order_id = o.order_id
    LEFT JOIN warehouse.products p ON p.sku = i.sku
    LEFT JOIN warehouse.customers c ON c.customer_id = o.customer_id
    WHERE o.order_ts >= (%(end_date)s::date + 1) - %(timeframe)s::interval
      AND o.order_ts < %(end_date)s::date + 1
      AND o.status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR o.currency = %(currency)s::text)
)
SELECT currency, category, country, month, GROUPING(category, country, month) AS grouping,
       count(DISTINCT order_id) AS orders, sum(quantity) AS units, round(sum(amount), 2) AS revenue
FROM lines
GROUP BY GROUPING SETS ((currency, category, country, month), (currency, category, country),
                        (currency, category), (currency, country), (currency, month), (currency))
ORDER BY currency, grouping, category NULLS FIRST, country NULLS FIRST, month NULLS FIRST
