-- revenue_top_products.sql from the rollup analytics.product_revenue_daily (revenue orders per day,
-- currency and product): products ranked (RANK, ties share a rank) by revenue per currency.
WITH sales AS (
    SELECT currency, sku, sum(units) AS units, sum(orders) AS orders, sum(revenue) AS revenue
    FROM analytics.product_revenue_daily
    WHERE day BETWEEN %(start_date)s::date AND %(end_date)s::date
      AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
    GROUP BY currency, sku
),
ranked AS (
    SELECT s.*, rank() OVER (PARTITION BY s.currency ORDER BY s.revenue DESC) AS rank FROM sales s
)
SELECT r.currency, r.rank, r.sku, p.name, coalesce(p.category, 'unknown') AS category,
       r.units, r.orders, round(r.revenue, 2) AS revenue
FROM ranked r
LEFT JOIN warehouse.products p ON p.sku = r.sku
WHERE r.rank <= %(top_n)s
ORDER BY r.currency, r.rank, r.sku
