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

/* One hs.tokens event of a batch. */
struct fanout {
    struct hs_event ev;
    char *pt;         /* the boxes' plaintext (wiped, freed) */
    PGresult *agents; /* id, public_key */
    int sent;
};

/* Decodes m, opens its token and finds the user's agents. */
static enum hs_err prepare(struct hs_worker *w, const struct hs_kafka_msg *m,
                           struct fanout *f, char *reason, size_t reasonlen)
{
    enum hs_err rc;
    const char *p[1];

    if (hs_event_decode(m->val, m->vallen, &f->ev) != HS_OK ||
        f->ev.type == HS_EV_CALLBACK_RECEIVED || f->ev.type == HS_EV_AUDIT ||
        f->ev.box_len > 0) {
        snprintf(reason, reasonlen, "undecodable_event");
        return HS_ERR_DECODE;
    }
    f->pt = box_plaintext(w, &f->ev, &rc);
    if (!f->pt) {
        snprintf(reason, reasonlen, "unreadable_sealed_token");
        return rc;
    }
    p[0] = f->ev.user_id;
    return hs_pg_query(w->pg, "SELECT id, public_key FROM agents WHERE "
                              "user_id = $1 ORDER BY id",
                       1, p, &f->agents); /* failure: transient, retried */
}

/* Queues f's hs.me messages, one per agent. */
static enum hs_err fan_out(struct hs_worker *w, struct fanout *f,
                           const char *topic, struct hs_event *me,
                           msgpack_sbuffer *sb)
{
    const struct hs_event *ev = &f->ev;

    for (int i = 0; i < PQntuples(f->agents); i++) {
        enum hs_err rc = me_message(w, ev, PQgetvalue(f->agents, i, 0),
                                    PQgetvalue(f->agents, i, 1), f->pt, me,
                                    sb);

        hs_event_wipe(me);
        if (rc == HS_ERR_INVALID) { /* a malformed stored key: skip it */
            hs_log(HS_LOG_WARN, "broadcast.bad_agent_key",
                   HS_KV_STR("agent_id", PQgetvalue(f->agents, i, 0)));
            continue;
        }
        if (rc == HS_OK)
            rc = hs_kafka_produce(w->producer, topic, ev->user_id,
                                  strlen(ev->user_id), sb->data, sb->size);
        if (rc != HS_OK)
            return rc;
        f->sent++;
    }
    return HS_OK;
}

static void sent(const struct fanout *f)
{
    char labels[64];
    const char *type = hs_event_type_name(f->ev.type);

    hs_metrics_family("hs_broadcasts_total", HS_COUNTER,
                      "Events fanned out, by type");
    hs_metrics_family("hs_me_messages_total", HS_COUNTER,
                      "Messages sent to agents on hs.me");
    hs_metrics_add("hs_broadcasts_total",
                   hs_metrics_labels(labels, sizeof(labels), "type", type,
                                     NULL, NULL),
                   1);
    hs_metrics_add("hs_me_messages_total", "", f->sent);
    hs_log(HS_LOG_INFO, "broadcast.sent", HS_KV_STR("type", type),
           HS_KV_STR("user_id", f->ev.user_id),
           HS_KV_STR("provider", f->ev.provider),
           HS_KV_INT("agents", f->sent));
}

void broadcaster_handle_batch(struct hs_worker *w,
                              struct hs_kafka_msg *const *m, size_t n,
                              enum hs_err *rcs,
                              char (*reasons)[HS_WORKER_REASON])
{
    struct fanout *f = calloc(n, sizeof(*f));
    struct hs_event *me = calloc(1, sizeof(*me));
    struct hs_audit_step steps[HS_WORKER_BATCH];
    enum hs_err held[HS_WORKER_BATCH];
    size_t which[HS_WORKER_BATCH], k = 0, queued = 0;
    char topic[128];
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    if (!f || !me) {
        for (size_t i = 0; i < n; i++)
            rcs[i] = HS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rcs[i] = prepare(w, m[i], &f[i], reasons[i], HS_WORKER_REASON);
        if (rcs[i] != HS_OK)
            continue;
        steps[k] = (struct hs_audit_step){
            .action = "broadcast.sent", .outcome = "ok",
            .reason = hs_event_type_name(f[i].ev.type),
            .handshake_id = f[i].ev.handshake_id,
            .user_id = f[i].ev.user_id, .provider = f[i].ev.provider};
        held[k] = HS_OK;
        which[k++] = i;
    }
    /* Held: nothing is delivered unless recorded (a failed delivery after
     * this is retried, so the record may come twice). One wait for all. */
    if (w->audit)
        hs_audit_hold_all(w->audit, steps, k, held);
    hs_config_topic(w->cfg, HS_TOPIC_ME, topic, sizeof(topic));
    for (size_t j = 0; j < k; j++) {
        size_t i = which[j];

        rcs[i] = held[j] != HS_OK ? held[j]
                                  : fan_out(w, &f[i], topic, me, &sb);
        queued += f[i].sent > 0;
    }
    if (queued) {
        /* One acknowledgement wait for every message of the batch; a
         * failure retries each fan-out (agents see at most a duplicate,
         * never a gap). */
        enum hs_err rc = hs_kafka_flush(w->producer, w->cfg->kafka_timeout_ms);

        for (size_t j = 0; j < k; j++)
            if (rcs[which[j]] == HS_OK && rc != HS_OK)
                rcs[which[j]] = rc;
    }
    for (size_t j = 0; j < k; j++)
        if (rcs[which[j]] == HS_OK)
            sent(&f[which[j]]);
out:
    for (size_t i = 0; f && i < n; i++) {
        if (rcs[i] != HS_OK && !hs_err_is_retriable(rcs[i]) &&
            !reasons[i][0])
            snprintf(reasons[i], HS_WORKER_REASON, "%s",
                     hs_strerror(rcs[i]));
        if (f[i].pt) {
            hs_wipe(f[i].pt, strlen(f[i].pt));
            free(f[i].pt);
        }
        PQclear(f[i].agents);
        hs_event_wipe(&f[i].ev);
    }
    msgpack_sbuffer_destroy(&sb);
    free(f);
    free(me);
}
