-- One row per planned flight, as published before its day.
select
    {{ flight_id('partition_date', 'carrier', 'flight', 'origin') }} as flight_id,
    partition_date as flight_date,
    carrier,
    flight as flight_number,
    tailnum,
    origin,
    dest,
    sched_dep_time,
    sched_arr_time,
    hour as sched_dep_hour,  -- local time at the origin
    minute as sched_dep_minute,
    time_hour as sched_dep_time_hour,  -- the scheduled departure hour, UTC
    distance
from {{ source('raw', 'schedule') }}
