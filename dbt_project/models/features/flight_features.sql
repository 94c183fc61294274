{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='flight_date',
    on_schema_change='append_new_columns',
  )
}}
-- One row per completed flight in [min_date, max_date]: model inputs and the label.
-- Rebuilding a window replaces exactly its days (delete+insert on flight_date), so Dagster's
-- daily partitions map onto it one to one. A column an analyst adds is appended to the table;
-- the automation then rebuilds every day, because the model's code version changed.

{#- The window: Dagster passes each run's days as DBT_MIN_DATE/DBT_MAX_DATE (a changed env var
    re-parses only this file; changed --vars would re-parse the whole project). An analyst may
    pass --vars '{min_date: ..., max_date: ...}' instead; the default is the embedded year. -#}
{% set min_date = "date '" ~ var('min_date', env_var('DBT_MIN_DATE', '2013-01-01')) ~ "'" %}
{% set max_date = "date '" ~ var('max_date', env_var('DBT_MAX_DATE', '2013-12-31')) ~ "'" %}
{% set window_days = var('route_window_days') %}
{% set lookback_start = dbt.dateadd('day', -window_days, min_date) %}

with flights_in_window as (

    select * from {{ ref('stg_flights') }}
    where
        flight_date between {{ min_date }} and {{ max_date }}
        and not is_cancelled

),

-- Outcomes per route and day, reaching back far enough for the first day's lookback.
route_day_outcomes as (

    select
        origin,
        dest,
        flight_date,
        {{ day_number('flight_date') }} as day_number,
        count(*) as completed_flights,
        sum(case when is_delayed then 1 else 0 end) as delayed_flights
    from {{ ref('stg_flights') }}
    where
        flight_date between {{ lookback_start }} and {{ max_date }}
        and not is_cancelled
    group by origin, dest, flight_date

),

-- Point in time: a flight on day D sees only days D-28 .. D-1, never its own day's outcomes.
route_history as (

    select
        origin,
        dest,
        flight_date,
        sum(completed_flights) over prior_days as route_flights_prev,
        sum(delayed_flights) over prior_days as route_delayed_prev
    from route_day_outcomes
    window prior_days as (
        partition by origin, dest
        order by day_number
        range between {{ window_days }} preceding and 1 preceding
    )

),

weather as (

    select * from {{ ref('stg_weather') }}

)

select
    flights.flight_id,
    flights.flight_date,
    flights.carrier,
    flights.origin,
    flights.dest,
    flights.sched_dep_hour as dep_hour,
    {{ iso_day_of_week('flights.flight_date') }} as day_of_week,  -- 1 = Monday .. 7 = Sunday
    extract(month from flights.flight_date) as month,
    flights.distance,
    weather.temp,
    weather.wind_speed,
    weather.precip,
    weather.visib,
    coalesce(history.route_flights_prev, 0) as route_flights_28d,
    -- cast: integer / integer truncates on some engines (Trino), not on DuckDB
    cast(history.route_delayed_prev as double)
    / nullif(history.route_flights_prev, 0) as route_delay_rate_28d,
    flights.arr_delay,
    flights.is_delayed
from flights_in_window as flights
left join route_history as history
    on
        flights.origin = history.origin
        and flights.dest = history.dest
        and flights.flight_date = history.flight_date
left join weather
    on
        flights.origin = weather.origin
        and flights.sched_dep_time_hour = weather.time_hour
