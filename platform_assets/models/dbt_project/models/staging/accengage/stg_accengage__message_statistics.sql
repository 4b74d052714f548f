-- One row per Accengage message, app and (GMT+1) day: that day's counts.
SELECT
    __sync_key AS statistics_key,
    app_id,
    __file_date AS day,
    message_id,
    message_name,
    message_type,
    campaign_id,
    send_date,
    number_of_targets AS targets,
    number_of_bounces AS bounces,
    number_of_messages_sent AS messages_sent,
    number_of_reactions AS reactions
FROM {{ source('accengage', 'message_statistics') }}
