-- Web events per hour in [start_date, end_date] (UTC; empty hours count as 0): the hour-of-day and
-- weekday profile, and hours whose count lies %(z_threshold)s or more standard deviations from the mean.
WITH counts AS (
    SELECT date_trunc('hour', occurred_at) AS hour, count(*) AS events
    FROM warehouse.web_events
    WHERE occurred_at >= %(start_date)s::date AND occurred_at < %(end_date)s::date + 1
      AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s::text)
    GROUP BY 1
),
hourly AS (
    SELECT h.hour, coalesce(c.events, 0) AS events
    FROM generate_series(%(start_date)s::date::timestamptz,
                         (%(end_date)s::date + 1)::timestamptz - interval '1 hour', interval '1 hour') AS h(hour)
    LEFT JOIN counts c ON c.hour = h.hour
),
stats AS (
    SELECT count(*) AS hours, sum(events) AS events, avg(events) AS mean, stddev_pop(events) AS sd FROM hourly
),
scored AS (
    SELECT h.hour, h.events, (h.events - s.mean) / nullif(s.sd, 0) AS z FROM hourly h CROSS JOIN stats s
)
SELECT
    (SELECT jsonb_build_object('hours', hours, 'events', events, 'mean_per_hour', round(mean, 3),
                               'stddev_per_hour', round(coalesce(sd, 0), 3)) FROM stats) AS summary,
    (SELECT jsonb_agg(jsonb_build_object('hour', hod, 'events', events, 'avg_per_day', round(avg_per_day, 3))
                      ORDER BY hod)
       FROM (SELECT extract(hour FROM hour)::int AS hod, sum(events) AS events, avg(events) AS avg_per_day
               FROM hourly GROUP BY 1) x) AS by_hour_of_day,
    (SELECT jsonb_agg(jsonb_build_object('isodow', dow, 'weekday', trim(to_char(day, 'Day')), 'events', events,
                                         'avg_per_day', round(avg_per_day, 3)) ORDER BY dow)
       FROM (SELECT extract(isodow FROM d.day)::int AS dow, min(d.day) AS day, sum(d.events) AS events,
                    avg(d.events) AS avg_per_day
               FROM (SELECT date_trunc('day', hour) AS day, sum(events) AS events FROM hourly GROUP BY 1) d
              GROUP BY 1) y) AS by_weekday,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('hour', to_char(hour, 'YYYY-MM-DD"T"HH24:00:00"Z"'),
                                                  'events', events, 'z_score', round(z, 3))
                              ORDER BY abs(z) DESC, hour), '[]')
       FROM (SELECT * FROM scored WHERE abs(z) >= %(z_threshold)s ORDER BY abs(z) DESC, hour LIMIT 100) a) AS anomalies
