/*
 * hs_event: every event of SPEC §4, defined once, with its msgpack codec.
 *
 * An event is a msgpack map with string keys. Common to all: v (int,
 * HS_EVENT_VERSION), id (unique), type, ts (ms since epoch), env. The
 * fields each type carries are listed in schemas/events.md; the encoder
 * writes exactly those, the decoder requires them and ignores unknown keys
 * (forward compatibility within a version).
 *
 * Secrets never travel in clear: `sealed` is an hs_crypto AEAD blob made
 * with HS_KEY_PIPELINE (associated data: the event's handshake_id for
 * callback.received, user_id "|" provider for token events), and the event
 * also names its `kid`. On hs.me, `box` is a crypto_box_seal to the agent's
 * key of a JSON object {access_token, token_type, expires_at, scopes} (or
 * {error, error_description} for connect.failed).
 *
 * Decoding copies into *out (no pointer into the buffer survives) and
 * returns HS_ERR_DECODE on truncated input, a wrong type, an over-long
 * field, a missing required field or an unknown version; *out is untouched
 * then. It never reads out of bounds.
 */
#ifndef HS_EVENT_H
#define HS_EVENT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define HS_EVENT_VERSION 1
#define HS_EVENT_MAX_BYTES (64 * 1024) /* larger payloads are refused */
#define HS_BLOB_MAX 8192               /* sealed / box / sig fields */

enum hs_event_type {
    HS_EV_CALLBACK_RECEIVED = 1, /* hs.callbacks: ingress -> exchange */
    HS_EV_TOKEN_ISSUED,          /* hs.tokens and hs.me */
    HS_EV_TOKEN_REFRESHED,
    HS_EV_PROVIDER_DISCONNECTED,
    HS_EV_REAUTH_REQUIRED,
    HS_EV_CONNECT_FAILED,        /* a connect flow failed: the agent's
                                    `connect` exits 3 on it */
    HS_EV_AUDIT                  /* hs.audit */
};

struct hs_event {
    int v;
    char id[48];
    enum hs_event_type type;
    int64_t ts;
    char env[32];

    /* callback.received */
    char handshake_id[32];
    char provider[32];
    int flow;                    /* enum hs_flow */
    char subject[64];            /* user id, poll-key hash or requester */
    char error[64];              /* provider's error code, "" if none */
    char error_description[256];
    char iss[256];               /* RFC 9207 iss from the callback, "" */

    /* token.* / connect.failed / hs.me (also user_id, provider) */
    char user_id[32];
    char agent_id[32];           /* hs.me only */
    int64_t expires_at;          /* ms since epoch; 0 = no expiry */
    char scopes[512];            /* space-separated */
    char token_type[32];

    /* sealed secrets (callback.received, token.*) */
    char kid[17];
    unsigned char sealed[HS_BLOB_MAX];
    size_t sealed_len;

    /* hs.me: sealed box to the agent's key */
    unsigned char box[HS_BLOB_MAX];
    size_t box_len;

    /* audit */
    char svc[32];
    char action[64];
    char outcome[16];            /* "ok", "failed", "rejected" */
    char reason[128];
    char client_ip[64];
    char user_agent[256];
    char fingerprint[24];        /* token fingerprint, never the token */
    int64_t seq;                 /* per-producer sequence */
    unsigned char sig[64];       /* Ed25519 over the rest */
    size_t sig_len;
};

/* "callback.received", "token.issued", ...; NULL for an unknown type. */
const char *hs_event_type_name(enum hs_event_type type);
/* Parses a type name; HS_ERR_DECODE if unknown. */
enum hs_err hs_event_type_parse(const char *name, enum hs_event_type *out);

/* Fills the common fields: v, a fresh random id, type, ts = now_ms, env.
 * Zeroes everything else. */
void hs_event_init(struct hs_event *ev, enum hs_event_type type,
                   const char *env, int64_t now_ms);

/* Appends ev as a msgpack map to out (caller owns out). HS_ERR_INVALID
 * when a required field of its type is empty. */
enum hs_err hs_event_encode(const struct hs_event *ev,
                            msgpack_sbuffer *out) HS_MUST_CHECK;

/* Parses buf into *out (copies). See the header comment for errors. */
enum hs_err hs_event_decode(const void *buf, size_t len,
                            struct hs_event *out) HS_MUST_CHECK;

/* Internal, shared with hs_webhook.c: 1 when buf[0..len-1] is exactly one
 * well-formed msgpack object whose containers declare no more items than
 * there are bytes left, else 0. Call it before msgpack_unpack_next on
 * untrusted bytes: msgpack-c allocates what a container declares. */
int hs__msgpack_shape_ok(const void *buf, size_t len);

/* Wipes the secret-bearing parts of ev (sealed, box). */
void hs_event_wipe(struct hs_event *ev);

#endif
