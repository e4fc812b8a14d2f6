-- Device-signed receipts (ADR 0079). Every report the API stores from now on carries the
-- device's signature over its claims, checked against the certificate the device presented
-- (FleetStore.recordReport takes none without it); the certificate is kept once, by its
-- SHA-256, so anyone can check the receipt again later. Rows from before receipts have none.
ALTER TABLE install_reports ADD COLUMN receipt_body TEXT;
ALTER TABLE install_reports ADD COLUMN receipt_signature TEXT;
ALTER TABLE install_reports ADD COLUMN receipt_certificate TEXT;
-- Where the device has an attestation key: its co-signature and chain (JSON), kept once checked.
ALTER TABLE install_reports ADD COLUMN receipt_attestation TEXT;

CREATE TABLE device_certificates (
  sha256     TEXT PRIMARY KEY,
  device_id  TEXT NOT NULL,
  der        TEXT NOT NULL,
  first_seen TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Receipts go into the transparency log like events and audit entries (012): a trigger in the
-- transaction that stores the report, so no path that stores one can skip it.
ALTER TABLE log_leaves DROP CONSTRAINT log_leaves_source_check;
ALTER TABLE log_leaves ADD CONSTRAINT log_leaves_source_check CHECK (source IN ('event', 'audit', 'receipt'));

CREATE FUNCTION receipt_leaf(r install_reports) RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT (jsonb_build_object(
    'v', 1, 'kind', 'receipt', 'id', r.id, 'at', log_time(r.received_at), 'device', r.device_id,
    'body', r.receipt_body, 'signature', r.receipt_signature, 'certificate', r.receipt_certificate)
    || CASE WHEN r.receipt_attestation IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('attestation', r.receipt_attestation::jsonb) END)::text;
$$;

CREATE FUNCTION log_receipt_leaf() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO log_leaves (source, source_id, leaf) VALUES ('receipt', NEW.id, receipt_leaf(NEW))
    ON CONFLICT (source, source_id) DO NOTHING;
  RETURN NULL;
END;
$$;
CREATE TRIGGER install_reports_log AFTER INSERT ON install_reports
  FOR EACH ROW WHEN (NEW.receipt_signature IS NOT NULL) EXECUTE FUNCTION log_receipt_leaf();
