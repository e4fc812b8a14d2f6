-- Webhooks (ADR 0075). Subscriptions; the outbox of events, each written in the transaction of
-- the change it tells of (or by the workflow's own activity, once per event key); one delivery
-- per subscription and event, made by the trigger in that same transaction, so an event is
-- never recorded without its deliveries nor lost between the change and the send.
CREATE TABLE webhook_subscriptions (
  id         BIGSERIAL PRIMARY KEY,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  types      TEXT[] NOT NULL,
  channel    TEXT,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  removed_at TIMESTAMPTZ
);

CREATE TABLE webhook_events (
  id           BIGSERIAL PRIMARY KEY,
  -- The idempotency key: a retried activity or route records its event once.
  event_key    TEXT NOT NULL UNIQUE,
  type         TEXT NOT NULL,
  subject      TEXT NOT NULL,
  channel      TEXT,
  -- Deliveries of one key (a release, a device) go out in id order, one at a time.
  ordering_key TEXT NOT NULL,
  at           TIMESTAMPTZ NOT NULL DEFAULT now(),
  data         TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
  id              BIGSERIAL PRIMARY KEY,
  subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id),
  event_id        BIGINT NOT NULL REFERENCES webhook_events (id),
  ordering_key    TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        INT NOT NULL DEFAULT 0,
  next_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- Failing deliveries are tried for 24 hours from here: the event's time, or a redelivery's.
  retry_from      TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- The oldest pending delivery of its subscription and ordering key: the only one of them that
  -- may be sent (kept by the trigger and the settling functions, under the key's advisory lock).
  head            BOOLEAN NOT NULL DEFAULT false,
  -- A replica sending it holds it until then; another may take it after (the sender died).
  lease_until     TIMESTAMPTZ,
  last_status     INT,
  last_error      TEXT,
  last_at         TIMESTAMPTZ,
  delivered_at    TIMESTAMPTZ,
  UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending' AND head;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (subscription_id, ordering_key, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id DESC);

-- Deliveries of one subscription and ordering key change head under this lock, so an event
-- recorded while the previous one is being settled is never left without a head.
CREATE FUNCTION webhook_key_lock(sub BIGINT, key TEXT) RETURNS void LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(hashtextextended(sub::text || '/' || key, 0));
$$;

CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s RECORD;
BEGIN
  FOR s IN SELECT id FROM webhook_subscriptions
           WHERE removed_at IS NULL AND NEW.type = ANY (types) AND (channel IS NULL OR channel = NEW.channel) LOOP
    PERFORM webhook_key_lock(s.id, NEW.ordering_key);
    INSERT INTO webhook_deliveries (subscription_id, event_id, ordering_key, head)
    SELECT s.id, NEW.id, NEW.ordering_key, NOT EXISTS (
      SELECT 1 FROM webhook_deliveries WHERE subscription_id = s.id AND ordering_key = NEW.ordering_key AND state = 'pending');
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_fan_out AFTER INSERT ON webhook_events FOR EACH ROW EXECUTE FUNCTION webhook_fan_out();

-- A failed attempt: tried again at retry_at, or dead (retry_at NULL); a dead delivery hands
-- the head to the next pending one of its key.
CREATE FUNCTION webhook_failed(delivery BIGINT, status INT, error TEXT, retry_at TIMESTAMPTZ)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  d RECORD;
BEGIN
  SELECT subscription_id, ordering_key INTO d FROM webhook_deliveries WHERE id = delivery;
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM webhook_key_lock(d.subscription_id, d.ordering_key);
  IF retry_at IS NOT NULL THEN
    UPDATE webhook_deliveries SET next_at = retry_at, attempts = attempts + 1, last_at = now(), last_status = status,
      last_error = error, lease_until = NULL WHERE id = delivery AND state = 'pending';
    RETURN;
  END IF;
  UPDATE webhook_deliveries SET state = 'dead', head = false, attempts = attempts + 1, last_at = now(), last_status = status,
    last_error = error, lease_until = NULL WHERE id = delivery AND state = 'pending';
  UPDATE webhook_deliveries SET head = true WHERE id = (
    SELECT id FROM webhook_deliveries WHERE subscription_id = d.subscription_id AND ordering_key = d.ordering_key
      AND state = 'pending' ORDER BY id LIMIT 1);
END $$;

-- Deliveries of one key sent in order and answered 2xx, settled together; the head moves on.
CREATE FUNCTION webhook_delivered(ids BIGINT[], statuses INT[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  d RECORD;
BEGIN
  SELECT subscription_id, ordering_key INTO d FROM webhook_deliveries WHERE id = ids[1];
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM webhook_key_lock(d.subscription_id, d.ordering_key);
  UPDATE webhook_deliveries w SET state = 'delivered', head = false, attempts = w.attempts + 1, delivered_at = now(),
    last_at = now(), last_status = a.status, last_error = NULL, lease_until = NULL
  FROM unnest(ids, statuses) AS a(id, status) WHERE w.id = a.id AND w.state = 'pending';
  UPDATE webhook_deliveries SET head = true WHERE id = (
    SELECT id FROM webhook_deliveries WHERE subscription_id = d.subscription_id AND ordering_key = d.ordering_key
      AND state = 'pending' ORDER BY id LIMIT 1);
END $$;

-- After redelivery: the oldest pending delivery of the key is its head again.
CREATE FUNCTION webhook_rehead(sub BIGINT, key TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webhook_key_lock(sub, key);
  UPDATE webhook_deliveries d SET head = (d.id = first.id)
  FROM (SELECT min(id) AS id FROM webhook_deliveries WHERE subscription_id = sub AND ordering_key = key AND state = 'pending') first
  WHERE d.subscription_id = sub AND d.ordering_key = key AND d.state = 'pending';
END $$;
