-- Dashboard sign-in: a session is a cookie naming an operator for a while.
-- Only the session id's sha256 is stored, like operator tokens; the CSRF token is not a
-- credential on its own (it is useless without the cookie), so it is kept to hand back.
CREATE TABLE operator_sessions (
  id_hash    TEXT PRIMARY KEY,
  operator   TEXT NOT NULL REFERENCES operators (name),
  csrf_token TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  ended_at   TIMESTAMPTZ
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
