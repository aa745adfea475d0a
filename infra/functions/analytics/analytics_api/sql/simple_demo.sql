-- A small, fast sample: the server's clock and version, and the newest order and event.
SELECT now() AS server_time, current_setting('server_version') AS server_version,
       (SELECT count(*) FROM warehouse.customers) AS customers,
       (SELECT count(*) FROM warehouse.orders) AS orders,
       (SELECT max(order_ts) FROM warehouse.orders) AS latest_order_at,
       (SELECT max(occurred_at) FROM warehouse.web_events) AS latest_event_at
