-- Columns of those tables, in table order.
SELECT table_schema AS schema, table_name AS "table", column_name AS name, data_type AS type,
       is_nullable = 'YES' AS nullable
FROM information_schema.columns
WHERE table_schema = ANY(%(schemas)s)
ORDER BY table_schema, table_name, ordinal_position
