-- A stored API key may expire: chosen when it is made, the key is refused
-- from then on like a revoked one. 0 = never.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0; -- UTC unix nanoseconds
