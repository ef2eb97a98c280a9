/*
 * agent: the reference agent's modules.
 *
 * agent_store keeps the agent's state under its home directory (0700):
 * config.json (server, brokers, API token, agent and user ids), agent.key
 * (X25519 key pair) and tokens/<provider>.json, every file 0600 and
 * written atomically (temp file + rename).
 *
 * agent_channel reads the user's partition of hs.me: it is opened at the
 * partition's high watermark before the URL is shown, so no message for
 * this connect can be missed, and each message is judged by
 * agent_channel_handle (a pure function, unit-tested).
 */
#ifndef AGENT_H
#define AGENT_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_crypto.h"
#include "hs_err.h"
#include "hs_event.h"

struct agent_config {
    char server[256];
    char brokers[512];
    char api_token[128];
    char agent_id[32];
    char user_id[32];
};

struct agent_keys {
    unsigned char pk[HS_BOX_PK_BYTES];
    unsigned char sk[HS_BOX_SK_BYTES];
};

struct agent_token {
    char access_token[4096];
    char token_type[32];
    int64_t expires_at;
    char scopes[512];
};

/* Resolves the home directory (--home, $HS_AGENT_HOME,
 * $HOME/.config/hs-agent) into out and creates it 0700. */
enum hs_err agent_store_home(const char *flag, char *out, size_t cap,
                             char *err, size_t errlen);
/* Loads config.json; HS_ERR_NOTFOUND when absent, HS_ERR_DECODE when it
 * is not what we wrote (err says which file). */
enum hs_err agent_store_load_config(const char *home, struct agent_config *c,
                                    char *err, size_t errlen);
enum hs_err agent_store_save_config(const char *home,
                                    const struct agent_config *c);
/* Loads agent.key, creating a new key pair when absent. */
enum hs_err agent_store_keys(const char *home, struct agent_keys *k,
                             char *err, size_t errlen);
enum hs_err agent_store_save_token(const char *home, const char *provider,
                                   const struct agent_token *t);
enum hs_err agent_store_load_token(const char *home, const char *provider,
                                   struct agent_token *t);
/* Removes tokens/<provider>.json. HS_OK also when there was none;
 * HS_ERR_INVALID for a provider name that is not [A-Za-z0-9]+,
 * HS_ERR_INTERNAL when the file exists but cannot be removed. */
enum hs_err agent_store_delete_token(const char *home, const char *provider);
/* Whether a token.refreshed message carrying `incoming` may replace the
 * stored token (NULL: none stored, or unreadable). Messages can arrive
 * out of order, so an older one must never replace a newer token: 1 when
 * incoming expires no earlier than stored, expires_at 0 (no expiry)
 * counting as the newest; 0 otherwise. Pure. */
int agent_token_supersedes(const struct agent_token *incoming,
                           const struct agent_token *stored);
/* Deletes everything the agent stored. */
void agent_store_clear(const char *home);

/* Copies a token object {access_token, token_type, expires_at (ms, 0 or
 * absent = no expiry), scopes (optional)} - a token box's JSON and the
 * answer of GET /api/providers/{p}/token alike - into *out, and wipes the
 * access token inside o either way (the secret moves out; o stays the
 * caller's to free). HS_ERR_DECODE when o is not such an object or a field
 * does not fit; *out is untouched then. */
enum hs_err agent_token_take(json_t *o, struct agent_token *out);

/* What a me-channel message means for a connect to `provider`. */
enum agent_outcome {
    AGENT_IGNORE = 0,   /* another agent, another provider, undecodable */
    AGENT_CONNECTED,    /* token.issued or token.refreshed (see ev->type):
                           *tok filled */
    AGENT_FAILED,       /* connect.failed: error filled */
    AGENT_DISCONNECTED, /* provider.disconnected: the server deleted the
                           tokens; drop the local copy */
    AGENT_REAUTH        /* reauth.required: the user must connect again;
                           error filled with the reason, "" when none */
};

/* Judges one decoded hs.me event for this agent. Every outcome but
 * AGENT_IGNORE needs ev's box to open with keys and hold a JSON object;
 * *tok and error are written only for the outcomes that say so. */
enum agent_outcome agent_channel_handle(const struct hs_event *ev,
                                        const char *agent_id,
                                        const char *provider,
                                        const struct agent_keys *keys,
                                        struct agent_token *tok, char *error,
                                        size_t errlen);

struct agent_channel;

/* Opens the user's partition of hs.me at its high watermark. */
enum hs_err agent_channel_open(const char *brokers, const char *user_id,
                               struct agent_channel **out, char *err,
                               size_t errlen);
/* Waits up to timeout_ms for the next message; HS_OK fills *ev,
 * HS_ERR_TIMEOUT when none came, HS_ERR_DECODE for a message that is not
 * an event (skip it). */
enum hs_err agent_channel_next(struct agent_channel *ch, int timeout_ms,
                               struct hs_event *ev);
void agent_channel_free(struct agent_channel *ch);

/* ---- agent_loopback: the IDE side of the loopback flow (SPEC §2) ----
 *
 * A listener on 127.0.0.1, on a port the system picks, that takes one
 * GET /callback?code=<handle> (43 base64url characters) from the browser
 * the server redirected, answers it with a page saying the sign-in went
 * through, and keeps the first valid handle. Anything else gets 400 or
 * 404 and is ignored. */
struct agent_loopback;

/* Starts listening. HS_OK fills *out (free with agent_loopback_free) and
 * *port. */
enum hs_err agent_loopback_start(struct agent_loopback **out,
                                 uint16_t *port) HS_MUST_CHECK;
/* Waits until a handle came, *stop is set or timeout_ms passed. HS_OK
 * copies it into code (cap >= 44); HS_ERR_TIMEOUT otherwise. */
enum hs_err agent_loopback_take(struct agent_loopback *lb, char *code,
                                size_t cap, int64_t timeout_ms,
                                volatile const sig_atomic_t *stop)
    HS_MUST_CHECK;
void agent_loopback_free(struct agent_loopback *lb);

#endif
