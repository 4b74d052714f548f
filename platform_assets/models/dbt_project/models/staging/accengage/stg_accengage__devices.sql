-- One row per Accengage device (its latest state).
SELECT
    __sync_key AS device_key,
    app_id,
    device_id,
    nullif(trim(member_id), '') AS member_id,
    device_model,
    os_version,
    language,
    country_code,
    enabled_push,
    install_date AS installed_at,
    last_opened AS last_opened_at,
    __file_date AS file_date
FROM {{ source('accengage', 'devices') }}
