-- handshake schema, version 2: the signup and session flows, in which the
-- client polls for its result (SPEC §2, §3).
--
-- A poll row is keyed by the SHA-256 (base64url) of the secret that
-- redeems it: the agent's signup_token (so the key is the signup_id the
-- browser carries) or the add-in's session_id. Neither secret is stored.
CREATE TABLE polls (
    key_hash      text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('signup', 'session')),
    user_code     text,                       -- sessions: the short code
    transit_hash  text UNIQUE,                -- sessions: sha256 of the
    transit_expires_at timestamptz,           -- single-use transit token
    handshake_id  text,                       -- set once, when the browser
                                              -- leaves for the provider
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN
                      ('pending', 'complete', 'failed', 'consumed')),
    user_id       text REFERENCES users(id) ON DELETE CASCADE,
    provider      text,
    error         text,                       -- machine code on failure
    last_poll_at  timestamptz,                -- 429 for clients too fast
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX polls_expires ON polls (expires_at);

-- Add-in session tokens expire (SPEC: expires_in); others never do.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;

-- hs-exchange finishes a poll in the transaction that finishes its
-- handshake; the notification is delivered at commit to every ingress
-- that LISTENs on hs_poll (the payload is the key hash, not a secret), so
-- a long poll wakes on whichever replica holds it.
CREATE FUNCTION hs_poll_finish(p_key text, p_user text, p_provider text,
                               p_error text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE polls
       SET status = CASE WHEN p_error IS NULL THEN 'complete' ELSE 'failed' END,
           user_id = p_user, provider = p_provider, error = p_error
     WHERE key_hash = p_key AND status = 'pending';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('hs_poll', p_key);
    RETURN true;
END $$;

-- One poll, in one round trip. outcome is one of pending, too_fast,
-- complete (released now, exactly once: the row becomes consumed and the
-- API token whose hash the caller drew is created in the same
-- transaction), consumed, failed, expired, unknown. A signup poll for a
-- key nobody has seen yet starts the row: the agent may poll before the
-- browser arrives, and its 10 minutes start then.
CREATE FUNCTION hs_poll_take(p_key text, p_kind text, p_waiting boolean,
                             p_token_hash text, OUT outcome text,
                             OUT user_id text, OUT provider text,
                             OUT error text, OUT email text, OUT name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    p polls%ROWTYPE;
BEGIN
    SELECT * INTO p FROM polls WHERE key_hash = p_key AND kind = p_kind
       FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
        IF p_kind = 'signup' THEN
            INSERT INTO polls (key_hash, kind, last_poll_at, expires_at)
            VALUES (p_key, 'signup', now(), now() + interval '10 minutes')
            ON CONFLICT DO NOTHING;
            outcome := 'pending';
        END IF;
        RETURN;
    END IF;
    provider := p.provider;
    IF p.status = 'consumed' THEN
        outcome := 'consumed';
    ELSIF p.expires_at <= now() THEN
        outcome := 'expired';
    ELSIF p.status = 'failed' THEN
        outcome := 'failed';
        error := p.error;
    ELSIF p.status = 'complete' THEN
        UPDATE polls SET status = 'consumed' WHERE key_hash = p_key;
        INSERT INTO api_tokens (token_hash, user_id, expires_at)
        VALUES (p_token_hash, p.user_id, CASE WHEN p_kind = 'session'
                THEN now() + interval '30 days' END);
        SELECT u.email, u.name INTO email, name FROM users u
         WHERE u.id = p.user_id;
        outcome := 'complete';
        user_id := p.user_id;
    ELSIF NOT p_waiting AND p.last_poll_at > now() - interval '1 second' THEN
        outcome := 'too_fast';
    ELSE
        UPDATE polls SET last_poll_at = now() WHERE key_hash = p_key;
        outcome := 'pending';
    END IF;
END $$;
