-- Commit-ordered reads of window rows: a query server that lost its LISTEN connection re-reads
-- what was committed meanwhile by `updated_at`. Rows are appended in commit order, so a BRIN
-- index finds them by reading only the newest block ranges, at almost no cost to the writer.
CREATE INDEX traffic_metrics_updated ON traffic_metrics USING brin (updated_at);
