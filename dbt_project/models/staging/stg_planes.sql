-- Aircraft by tail number: a reference table, known ahead of any flight.
select
    tailnum,
    year as year_built,
    seats,
    engines,
    type as aircraft_type
from {{ source('raw', 'planes') }}
