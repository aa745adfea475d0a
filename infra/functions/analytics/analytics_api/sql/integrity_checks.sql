-- Orphan references and order total mismatches among rows loaded for partitions in the range.
WITH items AS (
    SELECT i.order_id, i.sku, p.sku IS NULL AS no_product, o.order_id IS NULL AS no_order
    FROM warehouse.order_items i
    LEFT JOIN warehouse.products p ON p.sku = i.sku  -- keys: at most one match each
    LEFT JOIN warehouse.orders o ON o.order_id = i.order_id
    WHERE i._partition BETWEEN %(start_date)s AND %(end_date)s
),
orders AS (
    SELECT o.order_id, c.customer_id IS NULL AS no_customer,
           abs(o.total_amount - coalesce((SELECT sum(i.quantity * i.unit_price) FROM warehouse.order_items i
                                           WHERE i.order_id = o.order_id), 0)) > 0.01 AS mismatch
    FROM warehouse.orders o
    LEFT JOIN warehouse.customers c ON c.customer_id = o.customer_id
    WHERE o._partition BETWEEN %(start_date)s AND %(end_date)s
)
SELECT
    (SELECT count(*) FILTER (WHERE no_customer) FROM orders) AS orders_customer_id,
    (SELECT count(*) FILTER (WHERE mismatch) FROM orders) AS orders_total_mismatch,
    (SELECT count(*) FILTER (WHERE no_customer OR mismatch) FROM orders) AS orders_flagged,
    (SELECT count(*) FILTER (WHERE no_product) FROM items) AS order_items_sku,
    (SELECT count(*) FILTER (WHERE no_order) FROM items) AS order_items_order_id,
    (SELECT count(*) FILTER (WHERE no_product OR no_order) FROM items) AS order_items_flagged,
    (SELECT count(*) FROM warehouse.customers c
      WHERE c._partition BETWEEN %(start_date)s AND %(end_date)s AND c.referred_by IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM warehouse.customers p WHERE p.customer_id = c.referred_by)) AS customers_referred_by
