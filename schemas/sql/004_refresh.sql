-- handshake schema, version 4: the token lifecycle (refresh, revoke).
--
-- hs-refresher takes a token whose refresh_at has come by setting
-- lease_until in a committed UPDATE (the row picked FOR UPDATE SKIP
-- LOCKED), calls the provider, then stores the new tokens only if the
-- generation it leased is still the row's: so any number of refreshers
-- never refresh one token twice at once, a crashed refresher's lease
-- lapses, and a reconnect or disconnect meanwhile wins over a late
-- refresh. Every store of a token bumps generation.
ALTER TABLE provider_tokens
    ADD COLUMN refresh_at  timestamptz,     -- NULL: nothing to refresh
    ADD COLUMN lease_until timestamptz,     -- a refresher holds it
    ADD COLUMN attempts    int NOT NULL DEFAULT 0, -- failures in a row
    ADD COLUMN last_error  text,            -- machine code of the last one
    ADD COLUMN generation  bigint NOT NULL DEFAULT 1;
CREATE INDEX provider_tokens_refresh ON provider_tokens (refresh_at)
    WHERE refresh_at IS NOT NULL;

-- When a token expiring at p_expires is refreshed: p_ahead seconds
-- before, less a random 0-25 % (so tokens issued together do not all
-- come due together), and never before half its remaining life (a
-- lifetime shorter than the lead must not refresh in a loop).
CREATE FUNCTION hs_refresh_at(p_expires timestamptz, p_ahead int)
RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN p_expires IS NULL THEN NULL ELSE
        greatest(now() + (p_expires - now()) / 2,
                 p_expires - make_interval(secs => p_ahead *
                                           (0.75 + 0.25 * random())))
    END
$$;

-- Tokens of a disconnected provider, waiting to be revoked at the
-- provider (RFC 7009) by hs-refresher. The AEAD blobs are moved here
-- unchanged from provider_tokens (their associated data names the user,
-- the provider and the kind, not the table). No foreign key: a deleted
-- user's tokens are still revoked.
CREATE TABLE revocations (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    provider    text NOT NULL,
    access_enc  bytea,
    refresh_enc bytea,
    attempts    int NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revocations_next ON revocations (next_at);
