/*
 * broadcaster_fanout: one hs.tokens event becomes one hs.me message per
 * agent of the user, each carrying a sealed box (crypto_box_seal) that
 * only that agent's X25519 key opens. The offset is stored once every
 * message is acknowledged; a failure retries the whole fan-out (agents
 * see at most a duplicate, never a gap).
 */
#include "broadcaster_fanout.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_log.h"
#include "hs_metrics.h"

/* The JSON each agent's box holds. Caller frees (wipe first). */
static char *box_plaintext(struct hs_worker *w, const struct hs_event *ev,
                           enum hs_err *rc)
{
    json_t *o = NULL;
    char *text;

    *rc = HS_OK;
    if (ev->type == HS_EV_TOKEN_ISSUED || ev->type == HS_EV_TOKEN_REFRESHED) {
        char token[HS_BLOB_MAX];

        if (hs_token_open(w->kr, ev->user_id, ev->provider, NULL, ev->sealed,
                          ev->sealed_len, token, sizeof(token)) != HS_OK) {
            *rc = HS_ERR_CRYPTO;
            return NULL;
        }
        o = json_pack("{s:s,s:s,s:I,s:s}", "access_token", token,
                      "token_type", ev->token_type, "expires_at",
                      (json_int_t)ev->expires_at, "scopes", ev->scopes);
        hs_wipe(token, sizeof(token));
    } else if (ev->type == HS_EV_CONNECT_FAILED) {
        o = json_pack("{s:s,s:s}", "error", ev->error, "error_description",
                      ev->error_description);
    } else {
        o = json_object();
    }
    if (!o) {
        *rc = HS_ERR_DECODE;
        return NULL;
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        *rc = HS_ERR_NOMEM;
    return text;
}

/* Builds the hs.me message for one agent into sb. */
static enum hs_err me_message(struct hs_worker *w, const struct hs_event *src,
                              const char *agent_id, const char *pk64,
                              const char *pt, struct hs_event *me,
                              msgpack_sbuffer *sb)
{
    unsigned char pk[64];
    size_t pklen, boxlen;
    enum hs_err rc;

    if (hs_b64url_decode(pk64, pk, sizeof(pk), &pklen) != HS_OK ||
        pklen != HS_BOX_PK_BYTES)
        return HS_ERR_INVALID;
    hs_event_init(me, src->type, w->cfg->env, hs_now_ms());
    snprintf(me->user_id, sizeof(me->user_id), "%s", src->user_id);
    snprintf(me->agent_id, sizeof(me->agent_id), "%s", agent_id);
    snprintf(me->provider, sizeof(me->provider), "%s", src->provider);
    snprintf(me->handshake_id, sizeof(me->handshake_id), "%s",
             src->handshake_id);
    snprintf(me->error, sizeof(me->error), "%s", src->error);
    snprintf(me->scopes, sizeof(me->scopes), "%s", src->scopes);
    snprintf(me->token_type, sizeof(me->token_type), "%s", src->token_type);
    me->expires_at = src->expires_at;
    rc = hs_box_seal(pk, pt, strlen(pt), me->box, sizeof(me->box), &boxlen);
    if (rc != HS_OK)
        return rc;
    me->box_len = boxlen;
    msgpack_sbuffer_clear(sb);
    return hs_event_encode(me, sb);
}

enum hs_err broadcaster_handle(struct hs_worker *w,
                               const struct hs_kafka_msg *m, char *reason,
                               size_t reasonlen)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));
    struct hs_event *me = calloc(1, sizeof(*me));
    PGresult *res = NULL;
    char *pt = NULL, topic[128];
    msgpack_sbuffer sb;
    enum hs_err rc = HS_ERR_NOMEM;
    int sent = 0;

    msgpack_sbuffer_init(&sb);
    if (!ev || !me)
        goto out;
    if (hs_event_decode(m->val, m->vallen, ev) != HS_OK ||
        ev->type == HS_EV_CALLBACK_RECEIVED || ev->type == HS_EV_AUDIT ||
        ev->box_len > 0) {
        snprintf(reason, reasonlen, "undecodable_event");
        rc = HS_ERR_DECODE;
        goto out;
    }
    pt = box_plaintext(w, ev, &rc);
    if (!pt) {
        snprintf(reason, reasonlen, "unreadable_sealed_token");
        goto out;
    }
    {
        const char *p[1] = {ev->user_id};

        rc = hs_pg_query(w->pg, "SELECT id, public_key FROM agents WHERE "
                                "user_id = $1 ORDER BY id", 1, p, &res);
    }
    if (rc != HS_OK)
        goto out; /* transient: retried */
    {
        /* Held: nothing is delivered unless recorded (a failed delivery
         * after this is retried, so the record may come twice). */
        struct hs_audit_step s = {
            .action = "broadcast.sent", .outcome = "ok",
            .reason = hs_event_type_name(ev->type),
            .handshake_id = ev->handshake_id, .user_id = ev->user_id,
            .provider = ev->provider};

        rc = hs_worker_audit_hold(w, &s);
        if (rc != HS_OK)
            goto out; /* transient: retried */
    }
    hs_config_topic(w->cfg, HS_TOPIC_ME, topic, sizeof(topic));
    for (int i = 0; i < PQntuples(res); i++) {
        rc = me_message(w, ev, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                        pt, me, &sb);
        hs_event_wipe(me);
        if (rc == HS_ERR_INVALID) { /* a malformed stored key: skip it */
            hs_log(HS_LOG_WARN, "broadcast.bad_agent_key",
                   HS_KV_STR("agent_id", PQgetvalue(res, i, 0)));
            continue;
        }
        if (rc == HS_OK)
            rc = hs_kafka_produce(w->producer, topic, ev->user_id,
                                  strlen(ev->user_id), sb.data, sb.size);
        if (rc != HS_OK)
            goto out;
        sent++;
    }
    rc = hs_kafka_flush(w->producer, w->cfg->kafka_timeout_ms);
    if (rc == HS_OK) {
        char labels[64];

        hs_metrics_family("hs_broadcasts_total", HS_COUNTER,
                          "Events fanned out, by type");
        hs_metrics_family("hs_me_messages_total", HS_COUNTER,
                          "Messages sent to agents on hs.me");
        hs_metrics_add("hs_broadcasts_total",
                       hs_metrics_labels(labels, sizeof(labels), "type",
                                         hs_event_type_name(ev->type), NULL,
                                         NULL),
                       1);
        hs_metrics_add("hs_me_messages_total", "", sent);
    }
    if (rc == HS_OK)
        hs_log(HS_LOG_INFO, "broadcast.sent",
               HS_KV_STR("type", hs_event_type_name(ev->type)),
               HS_KV_STR("user_id", ev->user_id),
               HS_KV_STR("provider", ev->provider), HS_KV_INT("agents", sent));
out:
    if (rc != HS_OK && hs_err_is_retriable(rc) == 0 && !reason[0])
        snprintf(reason, reasonlen, "%s", hs_strerror(rc));
    if (pt) {
        hs_wipe(pt, strlen(pt));
        free(pt);
    }
    PQclear(res);
    msgpack_sbuffer_destroy(&sb);
    if (ev)
        hs_event_wipe(ev);
    free(ev);
    free(me);
    return rc;
}
