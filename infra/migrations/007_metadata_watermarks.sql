-- Storage rollback noticed on the server (S-25): the highest verified version of each metadata
-- role any API replica has read from storage, and the last time an older one was refused.
CREATE TABLE metadata_watermarks (
  repo text NOT NULL,
  role text NOT NULL,
  version integer NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now(),
  rollback_seen_at timestamptz,
  rollback_version integer,
  PRIMARY KEY (repo, role)
);
