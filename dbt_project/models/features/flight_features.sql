{{
  config(
    materialized='incremental',
    on_schema_change='append_new_columns',
    **replace_days_config()
  )
}}
-- The model inputs of every scheduled flight of the window, as known at its prediction time:
-- the end of day D - prediction_lead_days (1: the evening before the flight). Read, and only:
--   the day's schedule (the flight, and the congestion planned at its origin),
--   the aircraft (a reference table),
--   the labels of days up to D - lead (the outcome history),
--   the weather observed at the origin on day D - lead.
-- Nothing of day D's outcomes or weather, or of any later day: tests/test_day_ahead.py changes
-- them to absurd values and shows these rows unchanged.
-- Rebuilding a window replaces exactly its days (delete+insert on flight_date).

{% set lead = var('prediction_lead_days') %}
{% set history_start = dbt.dateadd('day', -(28 + lead - 1), window_start()) %}
{% set known_until = dbt.dateadd('day', -lead, window_end()) %}

with scheduled as (

    select *
    from {{ ref('stg_schedule') }}
    where flight_date between {{ window_start() }} and {{ window_end() }}

),

planned_congestion as (

    select
        flight_id,
        count(*) over (partition by origin, flight_date, sched_dep_hour) as origin_hour_departures,
        count(*) over (partition by origin, flight_date) as origin_day_departures
    from scheduled

),

-- Labeled flights of the days known at the prediction times of the window, with their plan.
labeled_history as (

    select
        planned.flight_date,
        planned.carrier,
        planned.origin,
        planned.dest,
        planned.sched_dep_hour,
        case when labels.is_late then 1 else 0 end as late
    from {{ ref('flight_labels') }} as labels
    inner join {{ ref('stg_schedule') }} as planned on labels.flight_id = planned.flight_id
    where
        labels.flight_date between {{ history_start }} and {{ known_until }}
        -- a flight's plan has its day: read the window's days, not the whole history
        and planned.flight_date between {{ history_start }} and {{ known_until }}
        and labels.is_late is not null

),

route_28d as (
    {{ late_history('scheduled', 'labeled_history', ['origin', 'dest'], 28, lead) }}
),

carrier_28d as (
    {{ late_history('scheduled', 'labeled_history', ['carrier'], 28, lead) }}
),

origin_hour_28d as (
    {{ late_history('scheduled', 'labeled_history', ['origin', 'sched_dep_hour'], 28, lead) }}
),

origin_1d as (
    {{ late_history('scheduled', 'labeled_history', ['origin'], 1, lead) }}
),

carrier_1d as (
    {{ late_history('scheduled', 'labeled_history', ['carrier'], 1, lead) }}
),

origin_evening_1d as (
    {{ late_history('scheduled', 'labeled_history', ['origin'], 1, lead,
                    where='history.sched_dep_hour >= 17') }}
),

-- The origin's weather on the last day observed by the prediction time.
weather_known as (

    select
        origin,
        observation_date,
        sum(coalesce(precip, 0)) as precip_prev_day,
        sum(case when observation_hour >= 18 then coalesce(precip, 0) else 0 end)
            as precip_evening_prev_day,
        min(visib) as visib_min_prev_day,
        max(wind_speed) as wind_max_prev_day,
        max(wind_gust) as gust_max_prev_day,
        avg(temp) as temp_mean_prev_day,
        min(pressure) as pressure_min_prev_day,
        {{ last_observed('temp', 'observation_hour') }} as temp_last,
        {{ last_observed('visib', 'observation_hour') }} as visib_last,
        {{ last_observed('humid', 'observation_hour') }} as humid_last,
        {{ last_observed('dewp', 'observation_hour') }} as dewp_last,
        {{ last_observed('temp - dewp', 'observation_hour') }} as temp_dewp_spread_last,
        {{ last_observed('wind_dir', 'observation_hour') }} as wind_dir_last,
        {{ last_observed('wind_speed', 'observation_hour') }} as wind_speed_last,
        {{ last_observed('pressure', 'observation_hour') }} as pressure_last,
        -- the pressure's change over the evening: a falling barometer announces a storm
        {{ last_observed('pressure', 'observation_hour') }}
        - {{ first_observed('pressure', 'observation_hour', 'observation_hour >= 12') }}
            as pressure_trend_12h
    from {{ ref('stg_weather') }}
    where
        observation_date between {{ dbt.dateadd('day', -lead, window_start()) }}
        and {{ known_until }}
    group by origin, observation_date

)

select
    cast(scheduled.flight_id as {{ dbt.type_string() }}) as flight_id,
    scheduled.flight_date,
    cast(scheduled.carrier as {{ dbt.type_string() }}) as carrier,
    cast(scheduled.origin as {{ dbt.type_string() }}) as origin,
    cast(scheduled.dest as {{ dbt.type_string() }}) as dest,
    cast(scheduled.sched_dep_hour as integer) as dep_hour,
    cast({{ iso_day_of_week('scheduled.flight_date') }} as integer) as day_of_week,
    cast(scheduled.distance as double) as distance,
    cast(extract(year from scheduled.flight_date) - planes.year_built as double)
        as plane_age_years,
    cast(planes.seats as double) as plane_seats,
    cast(congestion.origin_hour_departures as integer) as origin_hour_departures,
    cast(congestion.origin_day_departures as integer) as origin_day_departures,
    cast(route_28d.flights as integer) as route_flights_28d,
    {{ late_rate('route_28d') }} as route_late_rate_28d,
    {{ late_rate('carrier_28d') }} as carrier_late_rate_28d,
    {{ late_rate('origin_hour_28d') }} as origin_hour_late_rate_28d,
    {{ late_rate('origin_1d') }} as origin_late_rate_1d,
    {{ late_rate('carrier_1d') }} as carrier_late_rate_1d,
    {{ late_rate('origin_evening_1d') }} as origin_evening_late_rate_1d,
    cast(weather.precip_prev_day as double) as precip_prev_day,
    cast(weather.precip_evening_prev_day as double) as precip_evening_prev_day,
    cast(weather.visib_min_prev_day as double) as visib_min_prev_day,
    cast(weather.wind_max_prev_day as double) as wind_max_prev_day,
    cast(weather.gust_max_prev_day as double) as gust_max_prev_day,
    cast(weather.temp_mean_prev_day as double) as temp_mean_prev_day,
    cast(weather.pressure_min_prev_day as double) as pressure_min_prev_day,
    cast(weather.temp_last as double) as temp_last,
    cast(weather.visib_last as double) as visib_last,
    cast(weather.humid_last as double) as humid_last,
    cast(weather.dewp_last as double) as dewp_last,
    cast(weather.temp_dewp_spread_last as double) as temp_dewp_spread_last,
    cast(weather.wind_dir_last as double) as wind_dir_last,
    cast(weather.wind_speed_last as double) as wind_speed_last,
    cast(weather.pressure_last as double) as pressure_last,
    cast(weather.pressure_trend_12h as double) as pressure_trend_12h
from scheduled
inner join planned_congestion as congestion on scheduled.flight_id = congestion.flight_id
left join {{ ref('stg_planes') }} as planes on scheduled.tailnum = planes.tailnum
left join route_28d
    on
        scheduled.origin = route_28d.origin
        and scheduled.dest = route_28d.dest
        and scheduled.flight_date = route_28d.flight_date
left join carrier_28d
    on scheduled.carrier = carrier_28d.carrier and scheduled.flight_date = carrier_28d.flight_date
left join origin_hour_28d
    on
        scheduled.origin = origin_hour_28d.origin
        and scheduled.sched_dep_hour = origin_hour_28d.sched_dep_hour
        and scheduled.flight_date = origin_hour_28d.flight_date
left join origin_1d
    on scheduled.origin = origin_1d.origin and scheduled.flight_date = origin_1d.flight_date
left join carrier_1d
    on scheduled.carrier = carrier_1d.carrier and scheduled.flight_date = carrier_1d.flight_date
left join origin_evening_1d
    on
        scheduled.origin = origin_evening_1d.origin
        and scheduled.flight_date = origin_evening_1d.flight_date
left join weather_known as weather
    on
        scheduled.origin = weather.origin
        and weather.observation_date = {{ dbt.dateadd('day', -lead, 'scheduled.flight_date') }}
