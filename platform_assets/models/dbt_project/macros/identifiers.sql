{# Phone numbers to E.164: digits only; 10 digits get the default country code; 11-15 digits
   are taken as already international; anything else is NULL (not a phone number). #}
{% macro e164(column) -%}
    CASE
        WHEN {{ column }} IS NULL THEN NULL
        WHEN length(regexp_replace({{ column }}, '[^0-9]', '', 'g')) = 10
            THEN '+{{ var("default_country_code") }}' || regexp_replace({{ column }}, '[^0-9]', '', 'g')
        WHEN length(regexp_replace({{ column }}, '[^0-9]', '', 'g')) BETWEEN 11 AND 15
            THEN '+' || regexp_replace({{ column }}, '[^0-9]', '', 'g')
    END
{%- endmacro %}

{% macro clean_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{# The brand's client id as ASAPP receives it (document 003: a hashed client id). #}
{% macro asapp_client_hash(column) -%}
    {%- set how = var("asapp_customer_id_hash") -%}
    {%- if how == "md5" -%} md5({{ column }})
    {%- elif how == "sha256" -%} sha256({{ column }})
    {%- elif how == "none" -%} {{ column }}
    {%- else -%} {{ exceptions.raise_compiler_error("asapp_customer_id_hash must be none, md5 or sha256, got " ~ how) }}
    {%- endif -%}
{%- endmacro %}

{# Keyed hash of a personal identifier: HMAC-SHA256 with PLATFORM_PII_KEY, whose pads the pii
   plugin sets as DuckDB variables on every connection (the key never appears in SQL). #}
{% macro pii_hash(column) -%}
    sha256(getvariable('platform_pii_opad') || unhex(sha256(getvariable('platform_pii_ipad') || encode({{ column }}))))
{%- endmacro %}
