-- handshake schema, version 1: the system of record.
-- Secrets never reach this database in clear: handles that redeem something
-- are stored as SHA-256 (base64url), tokens as hs_crypto AEAD blobs (bytea)
-- whose associated data binds them to their row.

CREATE TABLE users (
    id          text PRIMARY KEY,               -- random, 22 chars
    issuer      text,                           -- (issuer, subject) is the
    subject     text,                           -- identity; never email
    email       text,
    name        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);

CREATE TABLE api_tokens (
    token_hash  text PRIMARY KEY,               -- sha256 of the Bearer token
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE agents (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL,
    public_key  text NOT NULL,                  -- X25519, base64url, 32 bytes
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_user ON agents (user_id);

-- One-time codes of POST /api/provider-auth-code (the connect flow).
CREATE TABLE auth_codes (
    code_hash   text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    agent_id    text REFERENCES agents(id) ON DELETE CASCADE,
    user_code   text NOT NULL,                  -- the short code shown
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- One row per started flow. The ingress inserts it when the browser leaves
-- for the provider; hs-exchange claims it (started -> exchanging) before it
-- calls the provider, so a code is exchanged at most once.
CREATE TABLE handshakes (
    id            text PRIMARY KEY,
    flow          text NOT NULL CHECK (flow IN
                      ('connect', 'signup', 'session', 'loopback')),
    provider      text NOT NULL,
    user_id       text REFERENCES users(id) ON DELETE CASCADE,
    agent_id      text,
    subject       text,                         -- poll-key hash / requester
    binding_hash  text NOT NULL,                -- sha256 of the browser cookie
    status        text NOT NULL DEFAULT 'started' CHECK (status IN
                      ('started', 'exchanging', 'complete', 'failed')),
    error         text,                         -- machine code, e.g.
    error_description text,                     -- access_denied
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    claimed_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX handshakes_expires ON handshakes (expires_at);

CREATE TABLE provider_tokens (
    user_id      text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider     text NOT NULL,
    access_enc   bytea NOT NULL,                -- AEAD, ad "user_id|provider|access"
    refresh_enc  bytea,                         -- AEAD, ad "user_id|provider|refresh"
    token_type   text NOT NULL,
    scopes       text NOT NULL DEFAULT '',
    expires_at   timestamptz,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN
                     ('active', 'reauth_required')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, provider)
);

-- Transactional outbox: a row is written in the same transaction as the
-- state it announces; a relay produces it to Kafka (acks=all), then deletes
-- it. So a token row and its event never diverge.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,                  -- base name, e.g. hs.tokens
    key         bytea NOT NULL,
    payload     bytea NOT NULL,                 -- msgpack event (secrets sealed)
    created_at  timestamptz NOT NULL DEFAULT now()
);
