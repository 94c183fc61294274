{{
  config(
    materialized='incremental',
    **replace_days_config()
  )
}}
-- Hindsight: the weather at each flight's origin in its scheduled departure hour, observed on
-- day D itself. Known only after the fact, like the label, so never a model input: the
-- evaluation uses it for one labeled ablation, "what a perfect forecast would add".

select
    scheduled.flight_id,
    scheduled.flight_date,
    weather.temp as temp_at_departure,
    weather.wind_speed as wind_speed_at_departure,
    weather.precip as precip_at_departure,
    weather.visib as visib_at_departure
from {{ ref('stg_schedule') }} as scheduled
left join {{ ref('stg_weather') }} as weather
    on
        scheduled.origin = weather.origin
        and scheduled.sched_dep_time_hour = weather.time_hour
where scheduled.flight_date between {{ window_start() }} and {{ window_end() }}
