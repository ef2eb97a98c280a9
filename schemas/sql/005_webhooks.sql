-- handshake schema, version 5: third-party webhooks (issue 7).
--
-- The ingress keeps the hash of every accepted signature for the replay
-- window (Slack: 5 minutes; kept 10): a second request with the same
-- signature is refused. Older rows are deleted by the insert that follows
-- them, so the table stays the size of the window.
CREATE TABLE webhook_seen (
    sig_hash text PRIMARY KEY,
    seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_seen_at ON webhook_seen (seen_at);
