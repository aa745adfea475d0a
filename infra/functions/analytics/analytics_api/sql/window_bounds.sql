-- The first instant of a timeframe window ending with end_date (UTC), as the answer reports it.
SELECT ((%(end_date)s::date + 1) - %(timeframe)s::interval)::date AS since
