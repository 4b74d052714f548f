-- Per UTC day of the call, queue and disposition: ASAPP calls, the calls followed by a purchase
-- (a transaction of the same ASAPP customer id starting within purchase_window_hours after the
-- call started), their share and the purchases' value (transaction_value_one_time, once per
-- transaction). A full rebuild: the window crosses midnight, so a re-loaded day can change the
-- day before it.
WITH transactions AS (
    SELECT transaction_id, asapp_customer_id, min(transaction_time) AS bought_at,
           max(transaction_value_one_time) AS value
    FROM {{ ref('stg_asapp__transactions') }}
    WHERE asapp_customer_id IS NOT NULL
    GROUP BY 1, 2
), calls AS (
    SELECT c.call_key, c.call_start, coalesce(c.queue, '(none)') AS queue,
           coalesce(c.disposition, '(none)') AS disposition,
           count(t.transaction_id) AS purchases, coalesce(sum(t.value), 0) AS value
    FROM {{ ref('stg_asapp__call_metadata') }} c
    LEFT JOIN transactions t
      ON t.asapp_customer_id = c.asapp_customer_id
     AND t.bought_at >= c.call_start
     AND t.bought_at < c.call_start + INTERVAL ({{ var('purchase_window_hours') }}) HOUR
    GROUP BY 1, 2, 3, 4
)
SELECT
    call_start::DATE AS day,
    queue,
    disposition,
    count(*) AS calls,
    count(*) FILTER (WHERE purchases > 0) AS calls_with_purchase,
    round(count(*) FILTER (WHERE purchases > 0) / count(*), 6) AS purchase_share,
    round(sum(value), 4) AS purchase_value
FROM calls
GROUP BY 1, 2, 3
