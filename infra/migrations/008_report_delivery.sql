-- Delta updates (D-17): how an installed image came to the device (a delta or the full image)
-- and the artifact bytes it downloaded, from its install report; absent in older reports.
ALTER TABLE install_reports ADD COLUMN delivered_as TEXT CHECK (delivered_as IN ('delta', 'full'));
ALTER TABLE install_reports ADD COLUMN delivered_bytes BIGINT CHECK (delivered_bytes >= 0);
ALTER TABLE install_reports ADD COLUMN delta_refused TEXT;
