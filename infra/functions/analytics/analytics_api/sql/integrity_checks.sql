-- Orphan references and order total mismatches among rows loaded for partitions in the range.
-- An order's items are loaded and replaced with it (pipeline_defs/batch/load.py), so they share its
-- partition: the range's items, summed per order, are joined by hash with the range's orders, both
-- read from the partition indexes; only items whose order is not among them are looked up in the
-- whole table (none, unless something broke that rule, which is then counted). A probe per row into
-- the whole tables instead touched ~20k scattered pages for a week of 1M orders.
WITH items AS (
    SELECT i.order_id, i._partition, count(*) AS n, count(*) FILTER (WHERE p.sku IS NULL) AS no_product,
           sum(i.quantity * i.unit_price) AS amount
    FROM warehouse.order_items i
    LEFT JOIN warehouse.products p ON p.sku = i.sku  -- a key: at most one match
    WHERE i._partition BETWEEN %(start_date)s AND %(end_date)s
    GROUP BY i.order_id, i._partition
),
orders AS (
    SELECT order_id, customer_id, total_amount, _partition FROM warehouse.orders
    WHERE _partition BETWEEN %(start_date)s AND %(end_date)s
),
matched AS (
    SELECT o.order_id IS NOT NULL AS is_order,
           o.order_id IS NOT NULL AND c.customer_id IS NULL AS no_customer,
           o.order_id IS NOT NULL AND abs(o.total_amount - coalesce(i.amount, 0)) > 0.01 AS mismatch,
           coalesce(i.n, 0) AS items, coalesce(i.no_product, 0) AS no_product,
           CASE WHEN i.order_id IS NULL OR o.order_id IS NOT NULL THEN 'same'
                WHEN EXISTS (SELECT 1 FROM warehouse.orders x WHERE x.order_id = i.order_id) THEN 'other'
                ELSE 'none' END AS order_partition
    FROM orders o
    FULL JOIN items i ON i.order_id = o.order_id AND i._partition = o._partition
    LEFT JOIN warehouse.customers c ON c.customer_id = o.customer_id
)
SELECT
    count(*) FILTER (WHERE no_customer) AS orders_customer_id,
    count(*) FILTER (WHERE mismatch) AS orders_total_mismatch,
    count(*) FILTER (WHERE no_customer OR mismatch) AS orders_flagged,
    coalesce(sum(no_product), 0) AS order_items_sku,
    coalesce(sum(items) FILTER (WHERE order_partition = 'none'), 0) AS order_items_order_id,
    coalesce(sum(items) FILTER (WHERE order_partition = 'other'), 0) AS order_items_other_partition,
    coalesce(sum(CASE WHEN order_partition = 'same' THEN no_product ELSE items END), 0) AS order_items_flagged,
    (SELECT count(*) FROM warehouse.customers c
      WHERE c._partition BETWEEN %(start_date)s AND %(end_date)s AND c.referred_by IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM warehouse.customers p WHERE p.customer_id = c.referred_by)) AS customers_referred_by
FROM matched
