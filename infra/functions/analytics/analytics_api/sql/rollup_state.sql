-- When the sales rollups (analytics.*, refreshed after the warehouse loads by the analytics/sales_rollups
-- asset) were last refreshed, which order statuses they count as revenue, and the partitions (load days)
-- whose loads they have not absorbed yet: their loads' fingerprint (analytics.rollup_loads over
-- ops.load_audit) differs from the one the last refresh of that partition recorded.
SELECT s.refreshed_at, s.revenue_statuses,
       ARRAY(SELECT DISTINCT l.partition_date FROM analytics.rollup_loads l
             LEFT JOIN analytics.rollup_coverage c USING (dataset, partition_date)
             WHERE c.loads IS DISTINCT FROM l.loads ORDER BY 1) AS stale_days
FROM analytics.rollup_state s WHERE s.name = 'sales'
