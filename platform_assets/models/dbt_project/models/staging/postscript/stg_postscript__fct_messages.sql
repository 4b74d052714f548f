-- One row per Postscript message, sent or received.
SELECT
    "MESSAGE_ID" AS message_id,
    "SHOP_ID" AS shop_id,
    "DIRECTION" AS direction,
    "SUBSCRIBER_ID" AS subscriber_id,
    "CREATED_AT" AS created_at,
    "_UPDATED_AT" AS updated_at,
    __file_date AS file_date
FROM {{ source('postscript', 'fct_messages') }}
