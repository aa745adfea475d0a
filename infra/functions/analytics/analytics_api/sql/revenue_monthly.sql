-- Monthly revenue per currency in [start_date, end_date] (UTC), months without orders as 0,
-- running total and month-over-month growth via window functions.
WITH months AS (
    SELECT generate_series(date_trunc('month', %(start_date)s::date),
                           date_trunc('month', %(end_date)s::date), interval '1 month')::date AS month
),
actual AS (
    SELECT date_trunc('month', order_ts)::date AS month, currency,
           count(*) AS orders, count(DISTINCT customer_id) AS customers, sum(total_amount) AS revenue
    FROM warehouse.orders
    WHERE order_ts >= %(start_date)s::date AND order_ts < %(end_date)s::date + 1
      AND status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
    GROUP BY 1, 2
),
filled AS (
    SELECT c.currency, m.month, coalesce(a.orders, 0) AS orders, coalesce(a.customers, 0) AS customers,
           coalesce(a.revenue, 0) AS revenue
    FROM (SELECT DISTINCT currency FROM actual) c
    CROSS JOIN months m
    LEFT JOIN actual a ON a.currency = c.currency AND a.month = m.month
)
SELECT currency, month, orders, customers, round(revenue, 2) AS revenue,
       round(sum(revenue) OVER w, 2) AS running_total,
       round(100 * (revenue - lag(revenue) OVER w) / nullif(lag(revenue) OVER w, 0), 2) AS mom_growth_pct
FROM filled
WINDOW w AS (PARTITION BY currency ORDER BY month)
ORDER BY currency, month
