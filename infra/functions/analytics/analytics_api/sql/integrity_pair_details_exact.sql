-- integrity_pair_details.sql without pg_trgm: both emails, no similarities.
SELECT p.a AS customer_id, p.b AS duplicate_of, NULL::numeric AS name_similarity, NULL::numeric AS email_similarity,
       ca.email AS email, cb.email AS duplicate_email
FROM unnest(%(a)s::text[], %(b)s::text[]) WITH ORDINALITY AS p(a, b, n)
JOIN warehouse.customers ca ON ca.customer_id = p.a
JOIN warehouse.customers cb ON cb.customer_id = p.b
ORDER BY p.n
