-- Referral trees over customers.referred_by with a recursive CTE. Roots are customers referred by
-- nobody (or by a customer id that does not exist); customers never reached from a root sit in a
-- referral cycle. Depth is capped by %(max_depth)s, which also bounds the recursion.
WITH RECURSIVE tree AS (
    SELECT c.customer_id AS root_id, c.customer_id, 0 AS depth
    FROM warehouse.customers c
    WHERE c.referred_by IS NULL
       OR NOT EXISTS (SELECT 1 FROM warehouse.customers p WHERE p.customer_id = c.referred_by)
    UNION ALL
    SELECT t.root_id, c.customer_id, t.depth + 1
    FROM tree t
    JOIN warehouse.customers c ON c.referred_by = t.customer_id
    WHERE t.depth < %(max_depth)s
),
networks AS (
    SELECT root_id, count(*) - 1 AS size, max(depth) AS depth,
           count(*) FILTER (WHERE depth = 1) AS direct_referrals
    FROM tree GROUP BY root_id HAVING count(*) > 1
),
top AS (
    SELECT n.*, rank() OVER (ORDER BY n.size DESC) AS rank FROM networks n
)
SELECT
    (SELECT count(*) FROM warehouse.customers) AS customers,
    (SELECT count(*) FROM warehouse.customers WHERE referred_by IS NOT NULL) AS referred,
    (SELECT count(*) FROM warehouse.customers c WHERE c.referred_by IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM warehouse.customers p WHERE p.customer_id = c.referred_by)) AS unknown_referrers,
    (SELECT count(*) FROM tree) AS reached,
    (SELECT count(*) FROM networks) AS networks,
    (SELECT coalesce(max(depth), 0) FROM tree) AS max_depth,
    (SELECT count(*) FROM tree t WHERE t.depth = %(max_depth)s
        AND EXISTS (SELECT 1 FROM warehouse.customers c WHERE c.referred_by = t.customer_id)) AS truncated_at_max_depth,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('depth', depth, 'customers', customers) ORDER BY depth), '[]')
       FROM (SELECT depth, count(*) AS customers FROM tree GROUP BY depth) d) AS depth_distribution,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'rank', t.rank, 'root_customer_id', t.root_id,
                'name', nullif(concat_ws(' ', c.first_name, c.last_name), ''),
                'size', t.size, 'depth', t.depth, 'direct_referrals', t.direct_referrals)
              ORDER BY t.rank, t.root_id), '[]')
       FROM top t JOIN warehouse.customers c ON c.customer_id = t.root_id
      WHERE t.rank <= %(top_n)s) AS top_networks
