{#- The few expressions SQL engines spell differently, behind adapter.dispatch (dbt's
    cross-database convention): the default form is DuckDB's, and each engine the platform
    deploys to (deploy/: Trino) adds its own. Everything else in the models is portable SQL or
    dbt's own cross-database macros (dbt.dateadd, dbt.datediff, dbt.type_string). -#}

{#- ISO day of week: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    extract(isodow from {{ date_expr }})
{%- endmacro %}

{% macro trino__iso_day_of_week(date_expr) -%}
    day_of_week({{ date_expr }})
{%- endmacro %}

{#- A timestamp's UTC hour as text, e.g. 2013-01-01T05: a stable key for hourly data. -#}
{% macro utc_hour_label(timestamp_expr) -%}
    {{ return(adapter.dispatch('utc_hour_label')(timestamp_expr)) }}
{%- endmacro %}

{% macro default__utc_hour_label(timestamp_expr) -%}
    strftime({{ timestamp_expr }} at time zone 'UTC', '%Y-%m-%dT%H')
{%- endmacro %}

{% macro trino__utc_hour_label(timestamp_expr) -%}
    format_datetime({{ timestamp_expr }} at time zone 'UTC', 'yyyy-MM-dd''T''HH')
{%- endmacro %}

{#- Days since 1970-01-01: an integer to order windows by, so that a RANGE frame of N days
    needs no interval arithmetic (which engines spell differently). -#}
{% macro day_number(date_expr) -%}
    {{ dbt.datediff("cast('1970-01-01' as date)", date_expr, 'day') }}
{%- endmacro %}

{#- The value of a column at the latest (or earliest) ordering key among the rows where it is
    not null: the last observation of a day. Nulls are skipped through the key, the same way on
    every engine. -#}
{% macro last_observed(column, order_by, where='true') -%}
    {{ return(adapter.dispatch('value_by_key')(column, 'case when ' ~ column ~ ' is not null and ('
                                               ~ where ~ ') then ' ~ order_by ~ ' end', 'max')) }}
{%- endmacro %}

{% macro first_observed(column, order_by, where='true') -%}
    {{ return(adapter.dispatch('value_by_key')(column, 'case when ' ~ column ~ ' is not null and ('
                                               ~ where ~ ') then ' ~ order_by ~ ' end', 'min')) }}
{%- endmacro %}

{% macro default__value_by_key(column, key, extreme) -%}
    arg_{{ extreme }}({{ column }}, {{ key }})
{%- endmacro %}

{% macro trino__value_by_key(column, key, extreme) -%}
    {{ extreme }}_by({{ column }}, {{ key }})
{%- endmacro %}

{#- Spark (DBT_TARGET=spark; its session time zone is UTC, profiles.yml). -#}
{% macro spark__iso_day_of_week(date_expr) -%}
    extract(dayofweek_iso from {{ date_expr }})
{%- endmacro %}

{% macro spark__utc_hour_label(timestamp_expr) -%}
    date_format({{ timestamp_expr }}, "yyyy-MM-dd'T'HH")
{%- endmacro %}

{% macro spark__value_by_key(column, key, extreme) -%}
    {{ extreme }}_by({{ column }}, {{ key }})
{%- endmacro %}
