-- One row per event per customer: Attentive notifications and conversions, Postscript messages
-- and attributed orders, ASAPP calls and transactions, Accengage push reactions, each with its
-- vendor, type, time (UTC) and amount. An event belongs to the person of its first identifier
-- (see identity_edges for which field is which); events without one are left out. A full
-- rebuild: identity can re-link any past event.
WITH events AS (
    SELECT 'attentive' AS vendor, lower(event_type) AS event_type, event_at,
           NULL::DECIMAL(18, 4) AS amount, notification_key AS event_id,
           coalesce('phone:' || phone, 'email:' || email,
                    'client:' || {{ asapp_client_hash('client_id') }}) AS node
    FROM {{ ref('stg_attentive__notifications') }}
    UNION ALL
    SELECT 'attentive', 'conversion', conversion_at, amount, conversion_key,
           coalesce('phone:' || phone, 'client:' || {{ asapp_client_hash('client_id') }})
    FROM {{ ref('stg_attentive__conversions') }}
    UNION ALL
    SELECT 'postscript', 'message_' || lower(direction), created_at, NULL, message_id,
           'postscript_subscriber:' || subscriber_id
    FROM {{ ref('stg_postscript__fct_messages') }}
    UNION ALL
    SELECT 'postscript', 'attributed_order', order_created_at, amount, attribution_id,
           'postscript_subscriber:' || subscriber_id
    FROM {{ ref('stg_postscript__fct_attribution') }}
    UNION ALL
    SELECT 'asapp', 'call', call_start, NULL, call_key, 'client:' || asapp_customer_id
    FROM {{ ref('stg_asapp__call_metadata') }}
    UNION ALL
    SELECT 'asapp', 'transaction', min(transaction_time), max(transaction_value_one_time),
           transaction_id, 'client:' || asapp_customer_id
    FROM {{ ref('stg_asapp__transactions') }}
    GROUP BY transaction_id, asapp_customer_id
    UNION ALL
    SELECT 'accengage', 'push_reaction', reacted_at, NULL, reaction_key,
           'accengage_device:' || app_id || ':' || device_id
    FROM {{ ref('stg_accengage__device_reactions') }}
    WHERE reaction
)
SELECT i.customer_key, e.vendor, e.event_type, e.event_at, e.amount,
       {{ pii_hash("e.vendor || ':' || e.event_id") }} AS event_key
FROM events e JOIN {{ ref('identity_nodes') }} i ON i.node = e.node
