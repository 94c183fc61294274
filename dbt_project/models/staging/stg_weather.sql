-- Hourly observations at the NYC origin airports.
select
    origin || '@' || strftime(time_hour at time zone 'UTC', '%Y-%m-%dT%H') as weather_id,
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
