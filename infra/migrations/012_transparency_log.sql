-- The transparency log's outbox (ADR 0078). Every release event (approvals, gate decisions,
-- pauses, resumes, rollbacks, key changes) and every settled audit entry gets a leaf here, made
-- by a trigger in the transaction that wrote the row, so no path that writes one can skip it;
-- the API's shipper appends each leaf to the log and keeps the index it got. A leaf is the row
-- as it was written: `ota log verify` rebuilds it from the row as it is now, with the same
-- function, and a row rewritten since no longer matches the log.
CREATE TABLE log_leaves (
  id          BIGSERIAL PRIMARY KEY,
  source      TEXT NOT NULL CHECK (source IN ('event', 'audit')),
  source_id   BIGINT NOT NULL,
  leaf        TEXT NOT NULL,
  log_index   BIGINT,
  -- A replica appending it holds it until then; another may take it after (the shipper died).
  lease_until TIMESTAMPTZ,
  UNIQUE (source, source_id)
);
CREATE INDEX log_leaves_unshipped ON log_leaves (id) WHERE log_index IS NULL;

CREATE FUNCTION log_time(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
$$;

CREATE FUNCTION event_leaf(e webhook_events) RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'v', 1, 'kind', 'event', 'id', e.id, 'key', e.event_key, 'type', e.type, 'subject', e.subject,
    'channel', e.channel, 'at', log_time(e.at), 'data', e.data)::text;
$$;

CREATE FUNCTION audit_leaf(a audit_log) RETURNS TEXT LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'v', 1, 'kind', 'audit', 'id', a.id, 'at', log_time(a.at), 'actor', a.actor, 'action', a.action,
    'subject', a.subject, 'reason', a.reason, 'outcome', a.outcome, 'detail', a.detail)::text;
$$;

-- First write wins: a leaf is never replaced, so a row rewritten later keeps its original leaf.
CREATE FUNCTION log_event_leaf() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO log_leaves (source, source_id, leaf) VALUES ('event', NEW.id, event_leaf(NEW))
    ON CONFLICT (source, source_id) DO NOTHING;
  RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_events_log AFTER INSERT ON webhook_events
  FOR EACH ROW EXECUTE FUNCTION log_event_leaf();

-- An audit entry is logged once settled: a `pending` one is logged when `complete` gives its outcome.
CREATE FUNCTION log_audit_leaf() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.outcome <> 'pending' THEN
    INSERT INTO log_leaves (source, source_id, leaf) VALUES ('audit', NEW.id, audit_leaf(NEW))
      ON CONFLICT (source, source_id) DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER audit_log_log AFTER INSERT OR UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION log_audit_leaf();

-- History from before the log: logged first, in the order it was written.
INSERT INTO log_leaves (source, source_id, leaf)
  SELECT 'audit', a.id, audit_leaf(a) FROM audit_log a WHERE a.outcome <> 'pending' ORDER BY a.id;
INSERT INTO log_leaves (source, source_id, leaf)
  SELECT 'event', e.id, event_leaf(e) FROM webhook_events e ORDER BY e.id;
