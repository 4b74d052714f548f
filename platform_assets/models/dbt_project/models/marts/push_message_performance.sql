{{ config(
    materialized='incremental',
    incremental_strategy='microbatch',
    event_time='day',
    begin='2020-01-01',
    batch_size='day',
    tags=['app_daily'],
) }}
-- Per Accengage app, message and (GMT+1) day: targets, sends, bounces, reactions and rates, from
-- the day's statistics export. Partitioned by Accengage's (GMT+1) day, every app in one run (the
-- app is a column): one microbatch per day replaces that day's rows.
SELECT
    app_id,
    message_id,
    day,
    any_value(message_name) AS message_name,
    any_value(message_type) AS message_type,
    sum(targets) AS targets,
    sum(messages_sent) AS sends,
    sum(bounces) AS bounces,
    sum(reactions) AS reactions,
    round(sum(bounces) / nullif(sum(targets), 0), 6) AS bounce_rate,
    round(sum(reactions) / nullif(sum(messages_sent), 0), 6) AS reaction_rate
FROM {{ ref('stg_accengage__message_statistics') }}
GROUP BY app_id, message_id, day
