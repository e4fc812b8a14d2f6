-- Release documents (ADR 0076): SBOMs and provenance as uploaded (the bytes are in the
-- artifacts bucket under documents/sha256/), the components each SBOM lists, and which release
-- came with which, so `ota fleet components` finds the releases (and devices) with a component.
CREATE TABLE documents (
  sha256     TEXT PRIMARY KEY,
  kind       TEXT NOT NULL CHECK (kind IN ('sbom', 'provenance')),
  format     TEXT NOT NULL CHECK (format IN ('cyclonedx', 'spdx', 'in-toto')),
  length     BIGINT NOT NULL,
  subjects   TEXT[] NOT NULL DEFAULT '{}',
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE document_components (
  sha256  TEXT NOT NULL REFERENCES documents (sha256),
  name    TEXT NOT NULL,
  version TEXT NOT NULL,
  purl    TEXT
);
CREATE INDEX document_components_name ON document_components (lower(name));

CREATE TABLE release_documents (
  channel TEXT NOT NULL,
  version TEXT NOT NULL,
  kind    TEXT NOT NULL,
  sha256  TEXT NOT NULL REFERENCES documents (sha256),
  PRIMARY KEY (channel, version, kind)
);
CREATE INDEX release_documents_sha256 ON release_documents (sha256);
