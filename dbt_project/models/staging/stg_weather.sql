-- Hourly observations at the NYC origin airports.
select
    origin || '@' || {{ utc_hour_label('time_hour') }} as weather_id,
    origin,
    partition_date as observation_date,
    time_hour,
    temp,
    dewp,
    humid,
    wind_speed,
    wind_gust,
    precip,
    visib
from {{ source('raw', 'weather') }}
