-- Each person-level identifier with its person: the connected components of identity_edges
-- (transitive: two identifiers are one person when a chain of vendor rows links them). The
-- component's smallest identifier ("kind:value") is its root; customer_key is the root's keyed
-- hash (stable while that identifier stays known). Clear values: internal to the identity schema
-- (for the deliveries); the marts see only customer_key and hashes.
WITH RECURSIVE edges AS (
    SELECT node, linked FROM {{ ref('identity_edges') }}
    UNION
    SELECT linked, node FROM {{ ref('identity_edges') }}
), reach(node, reached) AS (
    SELECT node, node FROM edges
    UNION
    SELECT r.node, e.linked FROM reach r JOIN edges e ON e.node = r.reached
), roots AS (
    SELECT node, min(reached) AS root FROM reach GROUP BY node
), kinds AS (
    SELECT DISTINCT node, kind, value FROM {{ ref('identity_edges') }}
)
SELECT k.kind, k.value, k.node, r.root, {{ pii_hash('r.root') }} AS customer_key
FROM kinds k JOIN roots r USING (node)
