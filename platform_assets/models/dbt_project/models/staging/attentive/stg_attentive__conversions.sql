-- One row per Attentive conversion (the table is already one row per __sync_key).
SELECT
    __sync_key AS conversion_key,
    {{ e164('phone') }} AS phone,
    nullif(trim(client_id), '') AS client_id,
    amount::DECIMAL(18, 4) AS amount,  -- money: exact from here on (the file's text, rounded)
    conversion_at,
    message_id,
    message_name,
    message_type,
    message_subtype,
    __file_date AS file_date
FROM {{ source('attentive_mobile', 'conversions') }}
