-- Identity: enrolled devices, one-time enrollment tokens, operators with roles,
-- the audit log, attestation nonces, and idempotent reports.
ALTER TABLE devices ADD COLUMN hardware_id TEXT;
ALTER TABLE devices ADD COLUMN channel TEXT;
-- 'reported': seen only through reports (before enrollment existed); 'enrolled'; 'revoked'.
ALTER TABLE devices ADD COLUMN status TEXT NOT NULL DEFAULT 'reported' CHECK (status IN ('reported', 'enrolled', 'revoked'));
ALTER TABLE devices ADD COLUMN groups_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE devices ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE devices ADD COLUMN cert_serial TEXT;
ALTER TABLE devices ADD COLUMN cert_not_after TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN enrolled_at TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN revoked_at TIMESTAMPTZ;
ALTER TABLE devices ADD COLUMN attestation_json TEXT;

CREATE TABLE enrollment_tokens (
  token_hash  TEXT PRIMARY KEY,
  device_id   TEXT NOT NULL,
  hardware_id TEXT NOT NULL,
  channel     TEXT NOT NULL,
  groups_json TEXT NOT NULL DEFAULT '[]',
  tags_json   TEXT NOT NULL DEFAULT '{}',
  expires_at  TIMESTAMPTZ NOT NULL,
  used_at     TIMESTAMPTZ,
  created_by  TEXT NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE operators (
  name       TEXT PRIMARY KEY,
  roles      TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  revoked_at TIMESTAMPTZ
);

CREATE TABLE audit_log (
  id      BIGSERIAL PRIMARY KEY,
  at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  subject TEXT NOT NULL,
  reason  TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
  detail  TEXT
);
CREATE INDEX audit_log_at ON audit_log (id DESC);

CREATE TABLE attestation_nonces (
  nonce     TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  used_at   TIMESTAMPTZ
);

-- A device that retries a report sends the same id; it is stored once.
ALTER TABLE install_reports ADD COLUMN report_id TEXT;
CREATE UNIQUE INDEX install_reports_idempotent ON install_reports (device_id, report_id);
