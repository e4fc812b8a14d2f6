-- The fleet store: what devices run and what they reported. Same SQL on PGlite and PostgreSQL.
CREATE TABLE devices (
  device_id       TEXT PRIMARY KEY,
  current_version TEXT NOT NULL,
  last_report_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE install_reports (
  id          BIGSERIAL PRIMARY KEY,
  device_id   TEXT NOT NULL,
  target_name TEXT,
  version     TEXT NOT NULL,
  outcome     TEXT NOT NULL CHECK (outcome IN ('installed', 'refused', 'failed')),
  error_code  TEXT,
  message     TEXT,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX install_reports_device ON install_reports (device_id, received_at);
