-- Health after an install: booted and confirmed healthy, or reverted. Drives rollout gates.
ALTER TABLE install_reports ADD COLUMN health TEXT CHECK (health IN ('healthy', 'reverted'));
CREATE INDEX install_reports_target ON install_reports (target_name, device_id, id);
