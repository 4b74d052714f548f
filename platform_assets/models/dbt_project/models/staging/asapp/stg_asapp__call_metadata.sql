-- One row per ASAPP call; customer_id is the brand's client id as ASAPP hashes it.
SELECT
    __sync_key AS call_key,
    customer_id AS asapp_customer_id,
    conversation_id,
    call_start,
    call_end,
    agent_queue_assigned AS queue,
    disposition_category AS disposition,
    time_in_queue,
    call_handle_time,
    queue_abandoned,
    ivr_resolved,
    caller_account_value,
    __file_date AS file_date
FROM {{ source('asapp', 'call_metadata') }}
