-- Rows whose revenue per message is not attributed_revenue / messages (or not NULL without messages).
SELECT * FROM {{ ref('sms_daily_performance') }}
WHERE (messages = 0 AND revenue_per_message IS NOT NULL)
   OR (messages > 0 AND abs(revenue_per_message - attributed_revenue / messages) > 0.000001)
   OR subscribers_reached > messages
