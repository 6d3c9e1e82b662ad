-- Fair dispatch claims each tenant's due messages in turn (ClaimFor): this
-- index walks one tenant's in claim order, so a tenant with a few messages
-- is not found behind another's flood of a million.
CREATE INDEX messages_tenant_due ON messages (tenant, priority DESC, due_at, id) WHERE status = 'ACCEPTED';
