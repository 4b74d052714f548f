-- Postscript dim_shops with snake_case column names (one row per id: the loader upserts on it).
SELECT {{ snake_case_columns(source('postscript', 'dim_shops')) }}
FROM {{ source('postscript', 'dim_shops') }}
