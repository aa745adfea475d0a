-- Segment x country over customers with at least %(min_orders)s revenue orders (HAVING on the
-- per-customer aggregate). One pass over orders; money per currency (there is no FX table).
WITH per_customer_currency AS (
    SELECT o.customer_id, o.currency, count(*) AS orders, sum(o.total_amount) AS revenue
    FROM warehouse.orders o
    WHERE o.status = ANY(%(statuses)s)
    GROUP BY o.customer_id, o.currency
),
per_customer AS (
    SELECT c.customer_id, coalesce(c.segment, 'unknown') AS segment, c.country, sum(p.orders) AS orders
    FROM per_customer_currency p
    JOIN warehouse.customers c ON c.customer_id = p.customer_id
    WHERE (%(segment)s::text IS NULL OR c.segment = %(segment)s::text)
      AND (%(country)s::text IS NULL OR c.country = %(country)s::text)
    GROUP BY c.customer_id, c.segment, c.country
    HAVING sum(p.orders) >= %(min_orders)s
),
money AS (
    SELECT q.segment, q.country, p.currency, sum(p.revenue) AS revenue, sum(p.orders) AS orders
    FROM per_customer q
    JOIN per_customer_currency p ON p.customer_id = q.customer_id
    GROUP BY q.segment, q.country, p.currency
),
money_by_group AS (
    SELECT segment, country,
           jsonb_object_agg(currency, round(revenue, 2)) AS revenue,
           jsonb_object_agg(currency, round(revenue / orders, 2)) AS avg_order_value
    FROM money
    GROUP BY segment, country
)
SELECT q.segment, q.country,
       count(*) AS customers,
       sum(q.orders)::bigint AS orders,
       round(avg(q.orders), 2) AS orders_per_customer,
       m.revenue, m.avg_order_value
FROM per_customer q
JOIN money_by_group m ON m.segment = q.segment AND m.country = q.country
GROUP BY q.segment, q.country, m.revenue, m.avg_order_value
ORDER BY orders DESC, q.segment, q.country
