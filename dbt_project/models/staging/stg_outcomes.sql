-- One row per flight that was reported after its day: actual times and delays.
select
    {{ flight_id('partition_date', 'carrier', 'flight', 'origin') }} as flight_id,
    partition_date as flight_date,
    dep_time,
    dep_delay,
    arr_time,
    arr_delay,
    air_time,
    dep_time is null as is_cancelled,  -- never left the gate
    dep_time is not null and arr_delay is null as is_diverted  -- left, never arrived
from {{ source('raw', 'outcomes') }}
