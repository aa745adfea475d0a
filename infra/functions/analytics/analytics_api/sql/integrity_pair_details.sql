-- The pairs shown as examples of candidate duplicates (%(a)s[n] with %(b)s[n], in that order): both
-- emails and the trigram similarities of full names and email local parts.
SELECT p.a AS customer_id, p.b AS duplicate_of,
       round(similarity(lower(coalesce(ca.first_name, '') || ' ' || coalesce(ca.last_name, '')),
                        lower(coalesce(cb.first_name, '') || ' ' || coalesce(cb.last_name, '')))::numeric, 3) AS name_similarity,
       round(similarity(split_part(lower(ca.email), '@', 1), split_part(lower(cb.email), '@', 1))::numeric, 3) AS email_similarity,
       ca.email AS email, cb.email AS duplicate_email
FROM unnest(%(a)s::text[], %(b)s::text[]) WITH ORDINALITY AS p(a, b, n)
JOIN warehouse.customers ca ON ca.customer_id = p.a
JOIN warehouse.customers cb ON cb.customer_id = p.b
ORDER BY p.n
