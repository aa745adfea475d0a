-- Tables the reader can see in the analytics schemas, with their on-disk size.
SELECT n.nspname AS schema, c.relname AS "table", pg_total_relation_size(c.oid) AS size_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS size
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY(%(schemas)s)
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname
