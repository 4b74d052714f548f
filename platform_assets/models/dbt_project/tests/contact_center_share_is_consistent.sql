-- Rows whose purchase share is not calls_with_purchase / calls, or with more purchasers than calls.
SELECT * FROM {{ ref('contact_center_outcomes') }}
WHERE calls_with_purchase > calls
   OR abs(purchase_share - calls_with_purchase / calls) > 0.000001
   OR (calls_with_purchase = 0 AND purchase_value <> 0)
