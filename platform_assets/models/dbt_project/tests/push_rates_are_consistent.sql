-- Rows whose rates do not follow from their counts.
SELECT * FROM {{ ref('push_message_performance') }}
WHERE (targets > 0 AND abs(bounce_rate - bounces / targets) > 0.000001)
   OR (sends > 0 AND abs(reaction_rate - reactions / sends) > 0.000001)
