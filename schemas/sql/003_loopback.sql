-- handshake schema, version 3: the loopback flow (SPEC §2 "loopback").
--
-- The handshake row keeps the requester (subject) and the port the IDE
-- listens on. Once the user clicked "Authorize <requester>" in the browser
-- that started the flow, the ingress mints one handle for the handshake
-- (the UNIQUE handshake_id makes that at most once) and redirects the
-- browser to the requester with it; the IDE redeems it within 60 seconds,
-- once, for an API token. Only the handle's SHA-256 is stored.
ALTER TABLE handshakes ADD COLUMN requester_port int
    CHECK (requester_port BETWEEN 1 AND 65535);

CREATE TABLE loopback_handles (
    handle_hash   text PRIMARY KEY,
    handshake_id  text NOT NULL UNIQUE REFERENCES handshakes(id)
                      ON DELETE CASCADE,
    user_id       text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    used_at       timestamptz
);
CREATE INDEX loopback_handles_created ON loopback_handles (created_at);

-- Redeems a handle, in one round trip: outcome 'ok' (the handle is used
-- now and the API token whose hash the caller drew is created in the same
-- transaction), 'used', 'expired' (older than 60 s) or 'unknown'.
CREATE FUNCTION hs_loopback_redeem(p_handle text, p_token_hash text,
                                   OUT outcome text, OUT user_id text,
                                   OUT email text, OUT name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    h loopback_handles%ROWTYPE;
BEGIN
    SELECT * INTO h FROM loopback_handles WHERE handle_hash = p_handle
       FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
    ELSIF h.used_at IS NOT NULL THEN
        outcome := 'used';
    ELSIF h.created_at <= now() - interval '60 seconds' THEN
        outcome := 'expired';
    ELSE
        UPDATE loopback_handles SET used_at = now()
         WHERE handle_hash = p_handle;
        INSERT INTO api_tokens (token_hash, user_id)
        VALUES (p_token_hash, h.user_id);
        SELECT u.email, u.name INTO email, name FROM users u
         WHERE u.id = h.user_id;
        outcome := 'ok';
        user_id := h.user_id;
    END IF;
END $$;
