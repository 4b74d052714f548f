-- One row per Attentive subscriber event (sent, clicked, joined, opted out, email events).
SELECT
    __sync_key AS notification_key,
    type AS event_type,
    {{ e164('phone') }} AS phone,
    nullif(trim(client_id), '') AS client_id,
    {{ clean_email('email') }} AS email,
    event_at,
    join_source,
    message_id,
    message_name,
    message_type,
    message_subtype,
    message_at,
    creative_id,
    __file_date AS file_date
FROM {{ source('attentive_mobile', 'notifications') }}
