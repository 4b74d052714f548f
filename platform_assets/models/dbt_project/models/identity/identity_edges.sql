-- Pairs of person-level identifiers seen together in one vendor row (clear values: internal to
-- the identity schema, read by customer_identity and the deliveries). Identifier kinds:
--   phone (E.164): Attentive phone, Postscript PHONE_NUMBER;
--   email (trimmed, lower case): Attentive email;
--   client (the brand's client id, as ASAPP hashes it: var asapp_customer_id_hash):
--     Attentive client_id, Accengage member_id, ASAPP customer_id / external_customer_id;
--   postscript_subscriber: Postscript SUBSCRIBER_ID (links its messages and attributions);
--   accengage_device: app id + device id (links a device's reactions to its member id).
WITH rows AS (
    SELECT phone, email, {{ asapp_client_hash('client_id') }} AS client,
           NULL::VARCHAR AS postscript_subscriber, NULL::VARCHAR AS accengage_device
    FROM {{ ref('stg_attentive__notifications') }}
    UNION ALL
    SELECT phone, NULL, {{ asapp_client_hash('client_id') }}, NULL, NULL
    FROM {{ ref('stg_attentive__conversions') }}
    UNION ALL
    SELECT phone, NULL, NULL, subscriber_id, NULL FROM {{ ref('stg_postscript__dim_subscribers') }}
    UNION ALL
    SELECT NULL, NULL, {{ asapp_client_hash('member_id') }}, NULL, app_id || ':' || device_id
    FROM {{ ref('stg_accengage__devices') }}
    UNION ALL
    SELECT NULL, NULL, {{ asapp_client_hash('member_id') }}, NULL, app_id || ':' || device_id
    FROM {{ ref('stg_accengage__device_reactions') }}
    UNION ALL
    SELECT NULL, NULL, asapp_customer_id, NULL, NULL FROM {{ ref('stg_asapp__call_metadata') }}
    UNION ALL
    SELECT NULL, NULL, asapp_customer_id, NULL, NULL FROM {{ ref('stg_asapp__transactions') }}
), numbered AS (
    SELECT row_number() OVER () AS row_id, * FROM rows
), nodes AS (  -- UNPIVOT leaves out NULLs
    SELECT row_id, kind, value FROM numbered
    UNPIVOT (value FOR kind IN (phone, email, client, postscript_subscriber, accengage_device))
)
-- every pair of identifiers of one row (each node also pairs with itself, so lone ones count)
SELECT DISTINCT a.kind, a.value, a.kind || ':' || a.value AS node,
       b.kind || ':' || b.value AS linked
FROM nodes a JOIN nodes b USING (row_id)
