-- Per dataset and day in the range: what the load audit recorded and what was quarantined.
SELECT dataset, partition_date AS day, sum(rows_in) AS rows_in, sum(rows_loaded) AS rows_loaded,
       sum(rows_quarantined) AS rows_quarantined, count(*) AS files
FROM ops.load_audit
WHERE partition_date BETWEEN %(start_date)s AND %(end_date)s
GROUP BY dataset, partition_date
ORDER BY dataset, partition_date
