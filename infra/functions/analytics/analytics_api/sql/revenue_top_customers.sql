-- Customers ranked (RANK) by revenue per currency in the range; among %(candidates)s only when given
-- (a set that holds every customer who can rank in the top N, see ops_sales.top_customers).
WITH spend AS (
    SELECT currency, customer_id, count(*) AS orders, sum(total_amount) AS revenue
    FROM warehouse.orders
    WHERE order_ts >= %(start_date)s::date AND order_ts < %(end_date)s::date + 1
      AND status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
      AND (%(candidates)s::text[] IS NULL OR customer_id = ANY(%(candidates)s::text[]))
    GROUP BY currency, customer_id
),
ranked AS (
    SELECT s.*, rank() OVER (PARTITION BY s.currency ORDER BY s.revenue DESC) AS rank FROM spend s
)
SELECT r.currency, r.rank, r.customer_id,
       nullif(concat_ws(' ', c.first_name, c.last_name), '') AS name, c.segment, c.country,
       r.orders, round(r.revenue, 2) AS revenue
FROM ranked r
LEFT JOIN warehouse.customers c ON c.customer_id = r.customer_id
WHERE r.rank <= %(top_n)s
ORDER BY r.currency, r.rank, r.customer_id
