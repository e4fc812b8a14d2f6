-- Each device's latest state per target, kept with every report (infra/fleetStore.ts
-- recordReport), so a gate or a release page counts a target's devices without sorting the
-- target's whole report history (100,000 devices: a scan of one narrow row each).
CREATE TABLE target_devices (
  target_name      TEXT NOT NULL,
  device_id        TEXT NOT NULL,
  -- The latest report of any kind, and its id (reports only ever get higher ids).
  report_id        BIGINT NOT NULL,
  outcome          TEXT NOT NULL,
  health           TEXT,
  error_code       TEXT,
  -- The latest report that had a health (a later refusal does not erase a revert).
  health_report_id BIGINT,
  last_health      TEXT,
  PRIMARY KEY (target_name, device_id)
);

-- Filled from the report history by FleetStore.rebuildDerivedState right after this migration.

-- A step's numbers once it has ended never change (reports are stamped when stored): the
-- dashboard computes them from the history once and keeps them here.
CREATE TABLE target_stats_at (
  target_name TEXT NOT NULL,
  until       TIMESTAMPTZ NOT NULL,
  stats_json  TEXT NOT NULL,
  PRIMARY KEY (target_name, until)
);

-- Every change of a device's version (enrollment, then each report that names another
-- version), with the device's channel: the dashboard's adoption over time reads the changes
-- after a release started and the devices' versions now, never the whole report history.
-- Kept in the same statements that change devices.current_version; filled from the history
-- by FleetStore.rebuildDerivedState right after this migration.
CREATE TABLE version_changes (
  id           BIGSERIAL PRIMARY KEY,
  device_id    TEXT NOT NULL,
  channel      TEXT,
  at           TIMESTAMPTZ NOT NULL,
  from_version TEXT,
  to_version   TEXT NOT NULL
);
CREATE INDEX version_changes_channel_at ON version_changes (channel, at);
CREATE INDEX version_changes_device ON version_changes (device_id);
