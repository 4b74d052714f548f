-- For the Accengage imports: one row per app, member and Accengage (GMT+1) day on which the
-- member ordered through an SMS (Attentive conversions; Postscript attributions, whose buyers
-- are matched through the identity graph), with that day's last order (time in UTC, value,
-- vendor). Members are Accengage devices' member ids (the brand's client id), compared as ASAPP
-- hashes client ids in the identity graph (var asapp_customer_id_hash).
WITH orders AS (
    SELECT {{ asapp_client_hash('client_id') }} AS client, conversion_at AS ordered_at,
           amount::DECIMAL(18, 2) AS amount, 'attentive' AS vendor
    FROM {{ ref('stg_attentive__conversions') }}
    WHERE client_id IS NOT NULL AND conversion_at IS NOT NULL
    UNION ALL
    SELECT c.value, o.ordered_at, o.amount, 'postscript'
    FROM (
        SELECT order_id, min(subscriber_id) AS subscriber_id, min(order_created_at) AS ordered_at,
               sum(amount)::DECIMAL(18, 2) AS amount
        FROM {{ ref('stg_postscript__fct_attribution') }}
        WHERE order_id IS NOT NULL AND order_created_at IS NOT NULL
        GROUP BY order_id
    ) o
    JOIN {{ ref('identity_nodes') }} s
      ON s.kind = 'postscript_subscriber' AND s.value = o.subscriber_id
    JOIN {{ ref('identity_nodes') }} c ON c.root = s.root AND c.kind = 'client'
), members AS (
    SELECT DISTINCT app_id, member_id, {{ asapp_client_hash('member_id') }} AS client
    FROM {{ ref('stg_accengage__devices') }}
    WHERE member_id IS NOT NULL
)
SELECT
    timezone('Etc/GMT-1', timezone('UTC', o.ordered_at::TIMESTAMP))::DATE AS delivery_date,
    m.app_id,
    m.member_id,
    max(o.ordered_at) AS last_sms_order_at,
    arg_max(o.amount, o.ordered_at) AS last_sms_order_value,
    arg_max(o.vendor, o.ordered_at) AS last_sms_vendor
FROM orders o
JOIN members m USING (client)
GROUP BY ALL
