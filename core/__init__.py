"""The platform's logic, free of Dagster: the landing contract and its validation, the upstream
source's timeline, and (as they move here) modeling, evaluation and decision rules. Each module is
tested directly; the Dagster wiring in assets/ and sensors/ calls into it."""
