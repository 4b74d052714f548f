-- One row per Postscript attribution of an order to a message or action.
SELECT
    "ATTRIBUTION_ID" AS attribution_id,
    "MESSAGE_ID" AS message_id,
    "ORDER_ID" AS order_id,
    "AMOUNT_IN_CENTS" AS amount_in_cents,
    ("AMOUNT_IN_CENTS" * 0.01)::DECIMAL(18, 2) AS amount,  -- exact: cents times a DECIMAL
    "ACTION_TYPE" AS action_type,
    "COUPON_USED" AS coupon_used,
    "SHOP_ID" AS shop_id,
    "SUBSCRIBER_ID" AS subscriber_id,
    "CUSTOMER_ID" AS customer_id,
    "MINUTES_FROM_ACTION" AS minutes_from_action,
    "ORDER_CREATED_AT" AS order_created_at,
    "_UPDATED_AT" AS updated_at,
    __file_date AS file_date
FROM {{ source('postscript', 'fct_attribution') }}
