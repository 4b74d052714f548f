-- One row per Postscript subscriber, the phone in E.164.
SELECT
    "SUBSCRIBER_ID" AS subscriber_id,
    "POSTSCRIPT_SUBSCRIBER_ID" AS postscript_subscriber_id,
    "SHOP_ID" AS shop_id,
    "IS_INTERNATIONAL" AS is_international,
    "DO_NOT_SEND_AT" AS do_not_send_at,
    "TRANSACTIONAL_ONLY" AS transactional_only,
    "DO_NOT_SEND" AS do_not_send,
    "DO_NOT_SEND_REASON" AS do_not_send_reason,
    {{ e164('"PHONE_NUMBER"') }} AS phone,
    "CREATED_AT" AS created_at,
    "_UPDATED_AT" AS updated_at,
    __file_date AS file_date
FROM {{ source('postscript', 'dim_subscribers') }}
