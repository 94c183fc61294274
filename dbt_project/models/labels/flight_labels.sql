{{
  config(
    materialized='incremental',
    on_schema_change='append_new_columns',
    **replace_days_config()
  )
}}
-- The label of every scheduled flight of the window, once its day's outcomes have landed:
-- "not on time" is an arrival more than delay_threshold_minutes late, or no arrival at all
-- (cancelled or diverted). A scheduled flight without an outcome has no label (null).
-- The only definition of the label: the features' outcome history is computed from it too.

with scheduled as (

    select
        flight_id,
        flight_date
    from {{ ref('stg_schedule') }}
    where flight_date between {{ window_start() }} and {{ window_end() }}

),

outcomes as (

    select *
    from {{ ref('stg_outcomes') }}
    where flight_date between {{ window_start() }} and {{ window_end() }}

)

select
    scheduled.flight_id,
    scheduled.flight_date,
    outcomes.flight_id is not null as outcome_reported,
    outcomes.arr_delay,
    outcomes.is_cancelled,
    outcomes.is_diverted,
    case
        when outcomes.flight_id is null then null
        else coalesce(outcomes.arr_delay > {{ var('delay_threshold_minutes') }}, true)
    end as is_late
from scheduled
left join outcomes on scheduled.flight_id = outcomes.flight_id
