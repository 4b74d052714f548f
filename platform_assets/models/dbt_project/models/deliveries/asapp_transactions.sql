-- The brand's transactions feed to ASAPP, in document 003's fields and order: the orders the SMS
-- vendors attributed (Attentive conversions; Postscript attributions, one row per order, its
-- value the sum of its attributions' amounts as in sms_daily_performance), each
-- with the buyer's client id as ASAPP hashes it (external_customer_id: var
-- asapp_customer_id_hash), so ASAPP can attribute the purchase to its conversations. Postscript
-- buyers get their client id through the identity graph (subscriber -> phone -> client id).
-- Orders whose buyer has no known client id are left out: ASAPP could not attribute them (the
-- feed requires external_customer_id or issue_id). delivery_date: the order's UTC day.
WITH attentive AS (
    SELECT 'attentive-' || conversion_key AS transaction_id,
           conversion_at AS transaction_time,
           amount::DECIMAL(18, 2) AS amount,
           {{ asapp_client_hash('client_id') }} AS external_customer_id,
           coalesce(message_id, conversion_key) AS external_session_id,
           'attentive' AS vendor
    FROM {{ ref('stg_attentive__conversions') }}
    WHERE client_id IS NOT NULL AND conversion_at IS NOT NULL
), postscript_orders AS (
    SELECT order_id, min(subscriber_id) AS subscriber_id, min(order_created_at) AS ordered_at,
           sum(amount)::DECIMAL(18, 2) AS amount, min(message_id) AS message_id
    FROM {{ ref('stg_postscript__fct_attribution') }}
    WHERE order_id IS NOT NULL AND order_created_at IS NOT NULL
    GROUP BY order_id
), postscript AS (
    SELECT 'postscript-' || o.order_id AS transaction_id,
           o.ordered_at AS transaction_time,
           o.amount,
           min(c.value) AS external_customer_id,
           coalesce(min(o.message_id), o.order_id) AS external_session_id,
           'postscript' AS vendor
    FROM postscript_orders o
    JOIN {{ ref('identity_nodes') }} s
      ON s.kind = 'postscript_subscriber' AND s.value = o.subscriber_id
    JOIN {{ ref('identity_nodes') }} c ON c.root = s.root AND c.kind = 'client'
    GROUP BY o.order_id, o.ordered_at, o.amount
), orders AS (
    SELECT * FROM attentive
    UNION ALL
    SELECT * FROM postscript
)
SELECT
    transaction_time::DATE AS delivery_date,
    transaction_id,
    transaction_time,
    amount AS transaction_value_one_time,
    NULL::DECIMAL(18, 2) AS transaction_value_recurring,
    'sms' AS customer_category,
    vendor AS customer_subcategory,
    external_customer_id,
    NULL::VARCHAR AS issue_id,
    external_session_id::VARCHAR AS external_session_id,
    'sms_attributed_order' AS product_category,
    vendor AS product_subcategory,
    'Order attributed to an SMS' AS product_name,
    NULL::VARCHAR AS product_id,
    1::BIGINT AS product_quantity,
    amount AS product_value_one_time,
    NULL::DECIMAL(18, 2) AS product_value_recurring
FROM orders
