-- revenue_monthly.sql from the rollup analytics.revenue_monthly for the whole months in the range,
-- and from the orders for the partial months at its ends (%(edge_lo)s/%(edge_hi)s: day ranges, end
-- exclusive). Months without orders as 0, running total and month-over-month growth.
WITH months AS (
    SELECT generate_series(date_trunc('month', %(start_date)s::date),
                           date_trunc('month', %(end_date)s::date), interval '1 month')::date AS month
),
actual AS (
    SELECT r.month, r.currency, r.orders, r.customers, r.revenue
    FROM analytics.revenue_monthly r
    WHERE r.month = ANY(%(full_months)s::date[])
      AND (%(currency)s::text IS NULL OR r.currency = %(currency)s::text)
    UNION ALL
    SELECT date_trunc('month', o.order_ts)::date, o.currency, count(*), count(DISTINCT o.customer_id),
           sum(o.total_amount)
    FROM unnest(%(edge_lo)s::date[], %(edge_hi)s::date[]) AS e(lo, hi)
    JOIN warehouse.orders o ON o.order_ts >= e.lo AND o.order_ts < e.hi
    WHERE o.status = ANY(%(statuses)s)
      AND (%(currency)s::text IS NULL OR o.currency = %(currency)s::text)
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
