-- Hourly observations at EWR, JFK and LGA.
select
    origin || '@' || {{ utc_hour_label('time_hour') }} as weather_id,
    origin,
    partition_date as observation_date,  -- the local day
    hour as observation_hour,  -- local time
    time_hour,  -- UTC
    temp,
    dewp,
    humid,
    wind_dir,
    wind_speed,
    wind_gust,
    precip,
    pressure,
    visib
from {{ source('raw', 'weather') }}
