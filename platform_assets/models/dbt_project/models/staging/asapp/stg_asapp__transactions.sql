-- One row per ASAPP transaction line (a product of a transaction).
SELECT
    __sync_key AS transaction_line_key,
    transaction_id,
    transaction_time,
    transaction_value_one_time::DECIMAL(18, 4) AS transaction_value_one_time,  -- money: exact
    transaction_value_recurring::DECIMAL(18, 4) AS transaction_value_recurring,
    external_customer_id AS asapp_customer_id,
    issue_id,
    product_id,
    product_name,
    product_quantity,
    product_value_one_time::DECIMAL(18, 4) AS product_value_one_time,
    __file_date AS file_date
FROM {{ source('asapp', 'transactions') }}
