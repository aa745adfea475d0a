-- When the sales rollups (analytics.*, refreshed by every warehouse load) were last refreshed,
-- and which order statuses they count as revenue.
SELECT refreshed_at, revenue_statuses FROM analytics.rollup_state WHERE name = 'sales'
