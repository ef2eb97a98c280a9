/*
 * hs_webhook: the events of hs.webhooks (issue 7), defined apart from
 * hs_event because one carries a whole HTTP request.
 *
 * webhook.received (ingress -> hs-relay of env): a third-party request
 * whose signature the ingress verified; `sealed` is hs_aead_seal
 * (HS_KEY_PIPELINE, associated data = id) of the JSON
 *   {"path","query","headers":[[name,value],...],"body":base64}.
 * webhook.relayed (hs-relay -> anyone): the answer of the local server to
 * the request `ref`: `status` (0 when there was none) and `error`.
 *
 * Both are msgpack maps with string keys, written in one fixed order:
 * v, id, type, ts, env, provider, then sealed (received) or ref, status,
 * error (relayed). Key = env, so each environment's relay can read its own
 * partition's order.
 */
#ifndef HS_WEBHOOK_H
#define HS_WEBHOOK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define HS_WEBHOOK_BODY_MAX (256 * 1024) /* larger requests: 413 */
/* base64 of the largest body, headers and the AEAD overhead */
#define HS_WEBHOOK_SEALED_MAX (HS_WEBHOOK_BODY_MAX / 3 * 4 + 96 * 1024)

enum hs_webhook_type { HS_WH_RECEIVED = 1, HS_WH_RELAYED };

struct hs_webhook {
    int v;
    char id[48];
    enum hs_webhook_type type;
    int64_t ts;
    char env[32];
    char provider[32];
    unsigned char *sealed; /* received; malloc'd by decode */
    size_t sealed_len;
    char ref[48];          /* relayed: id of the received event */
    int status;            /* relayed: local HTTP status, 0 = none */
    char error[64];        /* relayed: "" or why there was no answer */
};

/* Fills v, a fresh id, type, ts and env. */
void hs_webhook_init(struct hs_webhook *wh, enum hs_webhook_type type,
                     const char *env, int64_t now_ms);
enum hs_err hs_webhook_encode(const struct hs_webhook *wh,
                              msgpack_sbuffer *out) HS_MUST_CHECK;
/* HS_ERR_DECODE for anything but a well-formed event of this version;
 * call hs_webhook_free on success. */
enum hs_err hs_webhook_decode(const void *buf, size_t len,
                              struct hs_webhook *out) HS_MUST_CHECK;
/* Wipes and frees sealed. */
void hs_webhook_free(struct hs_webhook *wh);

#endif
