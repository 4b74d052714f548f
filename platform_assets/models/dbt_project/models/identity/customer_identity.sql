-- One row per person-level identifier (kind and keyed hash) with the person's customer_key.
-- Linking rules: see identity_edges (which vendor fields are which identifier) and
-- identity_nodes (connected components). No identifier appears in clear.
SELECT kind AS identifier_kind, {{ pii_hash('value') }} AS identifier_hash, customer_key
FROM {{ ref('identity_nodes') }}
