{#- The outcome history of a key (route, carrier, ...) for each (key, day) in `targets`: the
    labels of its flights over the `days` days known at the prediction time of the day, i.e.
    D - (days + lead - 1) .. D - lead. `history` holds one row per labeled flight with its
    scheduled attributes and `late` (0/1); `where` narrows it (e.g. evening flights). -#}
{% macro late_history(targets, history, keys, days, lead, where='true') -%}
    select
        {% for key in keys %}targets.{{ key }}, {% endfor %}
        targets.flight_date,
        count(history.late) as flights,
        sum(history.late) as late_flights
    from (
        select distinct {% for key in keys %}{{ key }}, {% endfor %}flight_date from {{ targets }}
    ) as targets
    left join {{ history }} as history
        on
            {% for key in keys %}targets.{{ key }} = history.{{ key }} and {% endfor %}
            history.flight_date between
            {{ dbt.dateadd('day', -(days + lead - 1), 'targets.flight_date') }}
            and {{ dbt.dateadd('day', -lead, 'targets.flight_date') }}
            and ({{ where }})
    group by {% for key in keys %}targets.{{ key }}, {% endfor %}targets.flight_date
{%- endmacro %}

{#- late / flights as a share, null without flights (cast: integer division truncates on
    some engines). -#}
{% macro late_rate(relation) -%}
    cast({{ relation }}.late_flights as double) / nullif({{ relation }}.flights, 0)
{%- endmacro %}
