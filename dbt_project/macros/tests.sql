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

{#- dbt's relationships test, with the parent read on the build's days too when the test says
    the two rows share their day (meta: same_day), as a flight's outcome and its schedule do
    (a flight id names its day). Without it, the test of a day's outcomes read every scheduled
    flight of the history. The parent's day column is its own meta: day_column. -#}
{% macro default__test_relationships(model, column_name, to, field) %}
{%- set parent_day_columns = [] -%}
{%- if execute and (config.get('meta') or {}).get('same_day') -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model'
            and node.alias | lower == to.identifier | lower
            and node.schema | lower == to.schema | lower
            and node.config.meta.get('day_column') -%}
        {%- do parent_day_columns.append(node.config.meta.get('day_column')) -%}
    {%- endfor -%}
    {%- if not parent_day_columns -%}
        {{ exceptions.raise_compiler_error(
            "relationships test of " ~ model ~ "." ~ column_name ~ " says same_day, but its parent "
            ~ to ~ " names no day_column in its meta (dbt_project/macros/tests.sql)") }}
    {%- endif -%}
{%- endif %}

with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
    {%- if parent_day_columns %}
    where {{ parent_day_columns[0] }} between {{ window_start() }} and {{ window_end() }}
    {%- endif %}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{% endmacro %}
