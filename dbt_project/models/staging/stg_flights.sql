-- One row per scheduled flight, typed and named for use; cancelled flights are kept and flagged
-- so that downstream models can count what they exclude.
with source as (

    select * from {{ source('raw', 'flights') }}

)

select
    -- e.g. 20130101-UA-1545-EWR; each part cast to text, as || takes only text on some engines
    replace(cast(partition_date as {{ dbt.type_string() }}), '-', '')
    || '-' || carrier
    || '-' || cast(flight as {{ dbt.type_string() }})
    || '-' || origin as flight_id,
    partition_date as flight_date,
    carrier,
    flight as flight_number,
    tailnum,
    origin,
    dest,
    sched_dep_time,
    hour as sched_dep_hour,
    minute as sched_dep_minute,
    time_hour as sched_dep_time_hour,  -- scheduled departure hour, UTC: the weather join key
    distance,
    air_time,
    dep_delay,
    arr_delay,
    arr_delay is null as is_cancelled,
    arr_delay > {{ var('delay_threshold_minutes') }} as is_delayed
from source
