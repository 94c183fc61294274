-- One row per scheduled flight, typed and named for use; cancelled flights are kept and flagged
-- so that downstream models can count what they exclude.
with source as (

    select * from {{ source('raw', 'flights') }}

)

select
    strftime(partition_date, '%Y%m%d') || '-' || carrier || '-' || flight || '-' || origin
        as flight_id,
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
