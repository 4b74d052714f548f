-- For the loyalty segments (document 001): one row per UTC day and email of a person who ordered
-- through an SMS that day (Attentive conversions by phone; Postscript attributions by
-- subscriber), the email found through the identity graph (the person's emails, lower case).
WITH orders AS (
    SELECT 'phone' AS kind, phone AS value, conversion_at AS ordered_at
    FROM {{ ref('stg_attentive__conversions') }}
    WHERE phone IS NOT NULL AND conversion_at IS NOT NULL
    UNION ALL
    SELECT 'postscript_subscriber', subscriber_id, order_created_at
    FROM {{ ref('stg_postscript__fct_attribution') }}
    WHERE subscriber_id IS NOT NULL AND order_created_at IS NOT NULL
)
SELECT DISTINCT o.ordered_at::DATE AS delivery_date, e.value AS email
FROM orders o
JOIN {{ ref('identity_nodes') }} n ON n.kind = o.kind AND n.value = o.value
JOIN {{ ref('identity_nodes') }} e ON e.root = n.root AND e.kind = 'email'
