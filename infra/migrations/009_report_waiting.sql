-- Devices that verified a release but wait to install it (D-19): outside its signed install
-- window, told "not now" by their readiness hook, or on a metered network. A waiting report is
-- neither a refusal nor a failure: gates do not count it, and the release page shows why a step
-- is slow. The device's latest state per target keeps the reason too.
ALTER TABLE install_reports DROP CONSTRAINT install_reports_outcome_check;
ALTER TABLE install_reports ADD CONSTRAINT install_reports_outcome_check CHECK (outcome IN ('installed', 'refused', 'failed', 'waiting'));
ALTER TABLE install_reports ADD COLUMN wait_reason TEXT CHECK (wait_reason IN ('window', 'not-ready', 'metered'));
ALTER TABLE target_devices ADD COLUMN wait_reason TEXT;
