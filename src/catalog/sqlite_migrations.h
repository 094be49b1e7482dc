// The SQLite catalog's schema, one entry per version. Never edit a released entry: add a
// new one. Versions match the PostgreSQL backend's so both describe the same schema.
#pragma once

#include <string_view>

namespace samcache::sqlite_schema {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

inline constexpr Migration kMigrations[] = {
    {1, "datasets, blobs and images", R"sql(
CREATE TABLE datasets (
  id VARCHAR(64) PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE blobs (
  content_hash VARCHAR(64) PRIMARY KEY,
  pixel_hash VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  mime_type VARCHAR(64) NOT NULL,
  byte_size BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  thumb_jpeg BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE images (
  id VARCHAR(64) PRIMARY KEY,
  dataset_id VARCHAR(64) NOT NULL REFERENCES datasets(id),
  filename VARCHAR(255) NOT NULL,
  content_hash VARCHAR(64) NOT NULL REFERENCES blobs(content_hash),
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX idx_images_content_hash ON images(content_hash);
CREATE INDEX idx_images_dataset ON images(dataset_id);
)sql"},
    // Upload order within a dataset (v1 relied on created_at, which ties within a request),
    // a tenant on datasets for the scoping to come, and lookups by pixel_hash.
    {2, "image order, dataset tenant, pixel_hash index", R"sql(
ALTER TABLE images ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
UPDATE images SET position = (
  SELECT COUNT(*) FROM images AS earlier
  WHERE earlier.dataset_id = images.dataset_id
    AND (earlier.created_at < images.created_at
         OR (earlier.created_at = images.created_at AND earlier.rowid < images.rowid)));
DROP INDEX idx_images_dataset;
CREATE INDEX idx_images_dataset_position ON images(dataset_id, position);
ALTER TABLE datasets ADD COLUMN tenant VARCHAR(64) NOT NULL DEFAULT 'default';
CREATE INDEX idx_blobs_pixel_hash ON blobs(pixel_hash);
)sql"},
    // Perceptual hashes (pHash of the picture and of its mirror image, 64-bit, stored as
    // SQLite's signed INTEGER) for near-duplicate detection. NULL until computed: content
    // stored before this version gets them from the stored files (BackfillPerceptualHashes).
    {3, "perceptual hashes", R"sql(
ALTER TABLE blobs ADD COLUMN phash INTEGER;
ALTER TABLE blobs ADD COLUMN phash_mirrored INTEGER;
CREATE INDEX idx_blobs_phash_missing ON blobs(content_hash) WHERE phash IS NULL;
)sql"},
    // Prewarm jobs, persisted so that they can be followed from any process and resumed
    // after their runner died; failures keep the reason per image.
    {4, "prewarm jobs", R"sql(
CREATE TABLE prewarm_jobs (
  id VARCHAR(64) PRIMARY KEY,
  dataset_id VARCHAR(64) NOT NULL,
  model_id VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  total BIGINT NOT NULL DEFAULT 0,
  done BIGINT NOT NULL DEFAULT 0,
  computed BIGINT NOT NULL DEFAULT 0,
  skipped BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  next_position BIGINT NOT NULL DEFAULT 0,
  to_compute BIGINT NOT NULL DEFAULT 0,
  compute_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  runner VARCHAR(128) NOT NULL DEFAULT '',
  heartbeat_ms BIGINT NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL DEFAULT '',
  finished_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_prewarm_jobs_unfinished ON prewarm_jobs(status, created_at);
CREATE INDEX idx_prewarm_jobs_dataset ON prewarm_jobs(dataset_id, model_id);
CREATE TABLE prewarm_failures (
  job_id VARCHAR(64) NOT NULL REFERENCES prewarm_jobs(id),
  image_id VARCHAR(64) NOT NULL,
  filename VARCHAR(255) NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (job_id, image_id)
);
)sql"},
    // Annotations: labelled masks (COCO compressed RLE) per image, in creation order.
    {5, "annotations", R"sql(
CREATE TABLE annotations (
  id VARCHAR(64) PRIMARY KEY,
  image_id VARCHAR(64) NOT NULL REFERENCES images(id),
  position BIGINT NOT NULL,
  category VARCHAR(200) NOT NULL,
  mask_height INTEGER NOT NULL,
  mask_width INTEGER NOT NULL,
  rle_counts TEXT NOT NULL,
  bbox_x DOUBLE PRECISION NOT NULL,
  bbox_y DOUBLE PRECISION NOT NULL,
  bbox_w DOUBLE PRECISION NOT NULL,
  bbox_h DOUBLE PRECISION NOT NULL,
  area BIGINT NOT NULL,
  score DOUBLE PRECISION,
  prompt_json TEXT NOT NULL DEFAULT '',
  model_id VARCHAR(64) NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX idx_annotations_image ON annotations(image_id, position);
)sql"},
    // At most one unfinished prewarm job per dataset and model, also when two instances
    // queue one at the same moment; older duplicates from before are cancelled.
    {6, "one unfinished prewarm job per dataset and model", R"sql(
UPDATE prewarm_jobs SET status = 'cancelled', error = 'replaced by a newer job for the same dataset and model',
  finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE status IN ('queued', 'running') AND EXISTS (
  SELECT 1 FROM prewarm_jobs AS newer
  WHERE newer.dataset_id = prewarm_jobs.dataset_id AND newer.model_id = prewarm_jobs.model_id
    AND newer.status IN ('queued', 'running')
    AND (newer.created_at > prewarm_jobs.created_at
         OR (newer.created_at = prewarm_jobs.created_at AND newer.id > prewarm_jobs.id)));
CREATE UNIQUE INDEX idx_prewarm_jobs_one_unfinished ON prewarm_jobs(dataset_id, model_id)
  WHERE status IN ('queued', 'running');
)sql"},
    // Pictures stored since a given time, so an instance's near-duplicate index can take in
    // what other instances sharing the catalog stored after it started.
    {7, "blobs by storage time", R"sql(
CREATE INDEX idx_blobs_created_at ON blobs(created_at);
)sql"},
    // Projects own datasets (those from before belong to the default project); users, their
    // memberships and tokens; and the embeddings each project has claimed, those of today's
    // pictures claimed by the default project for every model ('*') so that a garbage
    // collection after the upgrade keeps them. Claims are keyed by project and picture first:
    // a batch of pictures (FilterClaimed) and a deleted dataset's pictures are looked up so.
    // SQLite cannot add a column that REFERENCES another table with a non-NULL default while
    // foreign keys are on: the catalog checks datasets.project_id itself.
    {8, "projects, users, tokens and embedding claims", R"sql(
CREATE TABLE projects (
  id VARCHAR(64) PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
INSERT INTO projects (id, name, created_at) VALUES ('0000000000000000', 'default',
  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
ALTER TABLE datasets ADD COLUMN project_id VARCHAR(64) NOT NULL DEFAULT '0000000000000000';
CREATE INDEX idx_datasets_project ON datasets(project_id, created_at);
CREATE TABLE users (
  id VARCHAR(64) PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  role VARCHAR(16) NOT NULL,
  password_hash TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
);
CREATE TABLE project_members (
  project_id VARCHAR(64) NOT NULL REFERENCES projects(id),
  user_id VARCHAR(64) NOT NULL REFERENCES users(id),
  role VARCHAR(16) NOT NULL,
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX idx_project_members_user ON project_members(user_id);
CREATE TABLE tokens (
  id VARCHAR(64) PRIMARY KEY,
  user_id VARCHAR(64) NOT NULL REFERENCES users(id),
  name VARCHAR(255) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  hash VARCHAR(64) NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  last_used_at TEXT NOT NULL DEFAULT '',
  expires_at TEXT NOT NULL DEFAULT '',
  revoked_at TEXT NOT NULL DEFAULT '',
  parent_id VARCHAR(64) NOT NULL DEFAULT ''
);
CREATE INDEX idx_tokens_user_kind ON tokens(user_id, kind);
CREATE INDEX idx_tokens_parent ON tokens(parent_id) WHERE parent_id <> '';
CREATE TABLE embedding_claims (
  project_id VARCHAR(64) NOT NULL,
  model_id VARCHAR(64) NOT NULL,
  pixel_hash VARCHAR(64) NOT NULL,
  PRIMARY KEY (project_id, pixel_hash, model_id)
);
CREATE INDEX idx_embedding_claims_model ON embedding_claims(model_id, pixel_hash);
INSERT INTO embedding_claims (project_id, model_id, pixel_hash)
  SELECT DISTINCT '0000000000000000', '*', b.pixel_hash
  FROM images i JOIN blobs b ON b.content_hash = i.content_hash;
)sql"},
    // Issue 18, a dataset a page at a time: the picture, annotation count, oldest copy and
    // near-duplicate mark on each image row (filters served by partial indexes), counters per
    // dataset kept in the transactions that change them (image_pages.h), and the key that signs
    // page cursors.
    {9, "paged image listing", R"sql(
ALTER TABLE images ADD COLUMN pixel_hash VARCHAR(64) NOT NULL DEFAULT '';
UPDATE images SET pixel_hash = (SELECT b.pixel_hash FROM blobs b WHERE b.content_hash = images.content_hash);
CREATE INDEX idx_images_pixel_hash ON images(pixel_hash, created_at);
ALTER TABLE images ADD COLUMN annotation_count BIGINT NOT NULL DEFAULT 0;
UPDATE images SET annotation_count = (SELECT COUNT(*) FROM annotations a WHERE a.image_id = images.id);
ALTER TABLE images ADD COLUMN duplicate_of VARCHAR(64);
UPDATE images SET duplicate_of = NULLIF((SELECT o.id FROM images o JOIN datasets od ON od.id = o.dataset_id
    WHERE o.pixel_hash = images.pixel_hash
      AND od.project_id = (SELECT project_id FROM datasets WHERE id = images.dataset_id)
    ORDER BY o.created_at, o.rowid LIMIT 1), images.id);
ALTER TABLE images ADD COLUMN near_duplicate INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_images_duplicate_of ON images(duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE INDEX idx_images_dataset_duplicates ON images(dataset_id, position) WHERE duplicate_of IS NOT NULL;
CREATE INDEX idx_images_dataset_near ON images(dataset_id, position) WHERE near_duplicate <> 0;
CREATE INDEX idx_images_dataset_annotated ON images(dataset_id, position) WHERE annotation_count > 0;
CREATE TABLE dataset_counts (
  dataset_id VARCHAR(64) NOT NULL,
  name VARCHAR(100) NOT NULL,
  value BIGINT NOT NULL,
  PRIMARY KEY (dataset_id, name)
);
INSERT INTO dataset_counts (dataset_id, name, value)
  SELECT dataset_id, 'images', COUNT(*) FROM images GROUP BY dataset_id;
INSERT INTO dataset_counts (dataset_id, name, value)
  SELECT dataset_id, 'duplicates', COUNT(*) FROM images WHERE duplicate_of IS NOT NULL GROUP BY dataset_id;
INSERT INTO dataset_counts (dataset_id, name, value)
  SELECT dataset_id, 'annotated', COUNT(*) FROM images WHERE annotation_count > 0 GROUP BY dataset_id;
INSERT INTO dataset_counts (dataset_id, name, value)
  SELECT i.dataset_id, 'claimed:' || c.model_id, COUNT(*)
  FROM images i JOIN datasets d ON d.id = i.dataset_id
  JOIN embedding_claims c ON c.project_id = d.project_id AND c.pixel_hash = i.pixel_hash
  WHERE c.model_id = '*' OR NOT EXISTS (SELECT 1 FROM embedding_claims s WHERE s.project_id = c.project_id
    AND s.pixel_hash = c.pixel_hash AND s.model_id = '*')
  GROUP BY i.dataset_id, c.model_id;
CREATE TABLE catalog_settings (
  name VARCHAR(64) PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO catalog_settings (name, value) VALUES ('cursor_key', lower(hex(randomblob(32))));
)sql"},
};

}  // namespace samcache::sqlite_schema
