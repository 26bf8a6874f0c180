-- Per-project figures for the backoffice, per UTC hour, added up by every aggregator (and
-- by the agents' refusal reports) so they survive restarts and count every instance.
-- `name` is a latency stage (`queue_lag`, `processing`, `end_to_end`: `count` events,
-- `sum_us` their total, `histogram` their HDR buckets as JSON `[[value_us, count], …]`) or
-- a counter (`stored`, `retried`, `terminated`, `dead_lettered`, `refused.<code>`).
CREATE TABLE project_figures (
    project_id  TEXT NOT NULL,
    hour        BIGINT NOT NULL,
    name        TEXT NOT NULL,
    count       BIGINT NOT NULL,
    sum_us      BIGINT NOT NULL,
    histogram   TEXT,
    PRIMARY KEY (project_id, hour, name)
);
CREATE INDEX project_figures_hour ON project_figures (hour);

-- Agents' refusal reports already added (their Nats-Msg-Id): a report redelivered after
-- its commit is not counted twice.
CREATE TABLE figure_reports (
    id    TEXT PRIMARY KEY NOT NULL,
    hour  BIGINT NOT NULL
);
CREATE INDEX figure_reports_hour ON figure_reports (hour);
