-- multi_dimensional.sql from the rollups: levels with a category from analytics.sales_daily_category
-- (an order counts once per category), the others from analytics.sales_daily (orders with lines), so
-- every distinct-order count is an exact sum of whole days. GROUPING() bits as in multi_dimensional.sql:
-- 4 = category rolled up, 2 = country, 1 = month.
WITH by_category AS (
    SELECT currency, category, country, date_trunc('month', day)::date AS month, orders, units, revenue
    FROM analytics.sales_daily_category
    WHERE day >= ((%(end_date)s::date + 1) - %(timeframe)s::interval)::date AND day <= %(end_date)s::date
      AND status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
),
by_order AS (
    SELECT currency, country, date_trunc('month', day)::date AS month, item_orders AS orders, units,
           item_revenue AS revenue
    FROM analytics.sales_daily
    WHERE day >= ((%(end_date)s::date + 1) - %(timeframe)s::interval)::date AND day <= %(end_date)s::date
      AND status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
      AND item_orders > 0
)
SELECT * FROM (
    SELECT currency, category, country, month, GROUPING(category, country, month) AS grouping,
           sum(orders)::bigint AS orders, sum(units)::bigint AS units, round(sum(revenue), 2) AS revenue
    FROM by_category
    GROUP BY GROUPING SETS ((currency, category, country, month), (currency, category, country), (currency, category))
    UNION ALL
    SELECT currency, NULL::text, country, month, 4 + GROUPING(country, month),
           sum(orders)::bigint, sum(units)::bigint, round(sum(revenue), 2)
    FROM by_order
    GROUP BY GROUPING SETS ((currency, country), (currency, month), (currency))
) x
ORDER BY currency, grouping, category NULLS FIRST, country NULLS FIRST, month NULLS FIRST
