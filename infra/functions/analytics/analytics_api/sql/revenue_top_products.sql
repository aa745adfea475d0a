-- Products ranked (RANK, ties share a rank) by revenue per currency in the range.
WITH sales AS (
    SELECT o.currency, i.sku, sum(i.quantity) AS units, count(DISTINCT o.order_id) AS orders,
           sum(i.quantity * i.unit_price) AS revenue
    FROM warehouse.orders o
    JOIN warehouse.order_items i ON i.order_id = o.order_id
    WHERE o.order_ts >= %(start_date)s::date AND o.order_ts < %(end_date)s::date + 1
      AND o.status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR o.currency = %(currency)s::text)
    GROUP BY o.currency, i.sku
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
