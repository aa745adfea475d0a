-- customer_analysis.sql from the rollup analytics.customer_revenue (all-time revenue orders and revenue
-- per customer and currency, with the customer's orders in every currency for the HAVING), joined to
-- the customers' segment and country as they are now. Money per currency (there is no FX table).
WITH kept AS (
    SELECT coalesce(c.segment, 'unknown') AS segment, c.country, r.customer_id, r.currency, r.orders, r.revenue,
           r.customer_orders
    FROM analytics.customer_revenue r
    JOIN warehouse.customers c ON c.customer_id = r.customer_id
    WHERE r.customer_orders >= %(min_orders)s
      AND (%(segment)s::text IS NULL OR c.segment = %(segment)s::text)
      AND (%(country)s::text IS NULL OR c.country = %(country)s::text)
),
money AS (
    SELECT segment, country, currency, sum(revenue) AS revenue, sum(orders) AS orders,
           count(*) AS customers, sum(customer_orders) AS customer_orders
    FROM kept
    GROUP BY segment, country, currency
),
customers AS (
    SELECT segment, country, count(*) AS customers, sum(customer_orders) AS orders
    FROM (SELECT DISTINCT ON (customer_id) segment, country, customer_id, customer_orders FROM kept
          ORDER BY customer_id) one_row_per_customer
    GROUP BY segment, country
)
SELECT q.segment, q.country, q.customers, q.orders::bigint AS orders,
       round(q.orders::numeric / q.customers, 2) AS orders_per_customer,
       jsonb_object_agg(m.currency, round(m.revenue, 2)) AS revenue,
       jsonb_object_agg(m.currency, round(m.revenue / m.orders, 2)) AS avg_order_value
FROM customers q
JOIN money m ON m.segment = q.segment AND m.country = q.country
GROUP BY q.segment, q.country, q.customers, q.orders
ORDER BY orders DESC, q.segment, q.country
