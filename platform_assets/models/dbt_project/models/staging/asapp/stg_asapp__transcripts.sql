-- One row per message of an ASAPP conversation.
SELECT
    __sync_key AS message_key,
    "conversation_externalId" AS conversation_id,
    "sender_externalId" AS sender_id,
    sender_role,
    text,
    "timestamp" AS sent_at,
    __file_date AS file_date
FROM {{ source('asapp', 'transcripts') }}
