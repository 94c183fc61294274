{#- Where a generic test (unique, not_null, accepted_values, relationships) reads its model.
    dbt's own reads the whole table on every build. A model that names its day column
    (meta: day_column) is tested on the days of the build only (Dagster's partitions, the
    window of macros/flights.sql), so that a day's build costs the same in a ten-year warehouse
    as in a one-year one; a plain `dbt build` tests every day. A test's own `where` still
    applies. Unique keys here name their day (flight_id, weather_id), so the days of a build
    hold every row that could repeat one of theirs. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- set day_column = tested.config.meta.get('day_column') if tested else none -%}
    {%- if day_column -%}
        {%- do conditions.append(day_column ~ ' between ' ~ window_start() ~ ' and ' ~ window_end()) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
