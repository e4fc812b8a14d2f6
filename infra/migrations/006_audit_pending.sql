-- An admin change is audited before it runs (api/auth.ts): its entry starts 'pending' and
-- gets its outcome when the response is sent, so no change takes effect without an entry.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('pending', 'ok', 'refused', 'failed'));
