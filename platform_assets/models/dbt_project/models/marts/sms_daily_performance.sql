{{ config(
    materialized='incremental',
    incremental_strategy='microbatch',
    event_time='day',
    begin='2020-01-01',
    batch_size='day',
    tags=['daily'],
) }}
-- Per UTC day and SMS platform: messages sent, distinct subscribers reached, attributed orders
-- and revenue, revenue per message. Partitioned like the vendor tables: a run rebuilds its days
-- only, one microbatch per day (dbt reads each input's rows of that day by its event_time, then
-- replaces the day's rows). Definitions in _marts.yml.
WITH attentive_messages AS (
    SELECT event_at::DATE AS day, count(*) AS messages, count(DISTINCT phone) AS subscribers
    FROM {{ ref('stg_attentive__notifications') }}
    WHERE event_type IN ('{{ var("attentive_message_types") | join("', '") }}')
    GROUP BY 1
), attentive_orders AS (
    SELECT conversion_at::DATE AS day, count(*) AS orders, sum(amount) AS revenue
    FROM {{ ref('stg_attentive__conversions') }}
    GROUP BY 1
), postscript_messages AS (
    SELECT created_at::DATE AS day, count(*) AS messages,
           count(DISTINCT subscriber_id) AS subscribers
    FROM {{ ref('stg_postscript__fct_messages') }}
    WHERE direction IN ('{{ var("postscript_outbound_directions") | join("', '") }}')
    GROUP BY 1
), postscript_orders AS (
    SELECT order_created_at::DATE AS day, count(DISTINCT order_id) AS orders,
           (sum(amount_in_cents) * 0.01)::DECIMAL(18, 2) AS revenue
    FROM {{ ref('stg_postscript__fct_attribution') }}
    GROUP BY 1
), platforms AS (
    SELECT day, 'attentive' AS platform, m.messages, m.subscribers, o.orders, o.revenue
    FROM attentive_messages m FULL JOIN attentive_orders o USING (day)
    UNION ALL
    SELECT day, 'postscript', m.messages, m.subscribers, o.orders, o.revenue
    FROM postscript_messages m FULL JOIN postscript_orders o USING (day)
)
SELECT
    day,
    platform,
    coalesce(messages, 0) AS messages,
    coalesce(subscribers, 0) AS subscribers_reached,
    coalesce(orders, 0) AS attributed_orders,
    round(coalesce(revenue, 0), 4)::DECIMAL(18, 4) AS attributed_revenue,
    round(coalesce(revenue, 0) / nullif(messages, 0), 6)::DECIMAL(18, 6) AS revenue_per_message
FROM platforms
WHERE day IS NOT NULL
