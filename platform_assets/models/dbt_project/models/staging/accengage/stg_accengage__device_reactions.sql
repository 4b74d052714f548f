-- One row per device an Accengage message targeted, with its reaction.
SELECT
    __sync_key AS reaction_key,
    app_id,
    nullif(trim(member_id), '') AS member_id,
    device_id,
    message_id,
    optin,
    bounce,
    reaction,
    sending_date AS sent_at,
    reaction_date AS reacted_at,
    __file_date AS file_date
FROM {{ source('accengage', 'device_reactions') }}
