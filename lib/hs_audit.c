/* hs_audit: signed audit events (contract in hs_audit.h). */
#include "hs_audit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_log.h"

/* The encoding that is signed: ev without sig. */
static enum hs_err signed_bytes(const struct hs_event *ev, msgpack_sbuffer *sb)
{
    struct hs_event *tmp = malloc(sizeof(*tmp));
    enum hs_err rc;

    if (!tmp)
        return HS_ERR_NOMEM;
    *tmp = *ev;
    tmp->sig_len = 0;
    rc = hs_event_encode(tmp, sb);
    free(tmp);
    return rc;
}

enum hs_err hs_audit_sign(struct hs_event *ev, const char *kid,
                          const unsigned char sk[64])
{
    msgpack_sbuffer sb;
    enum hs_err rc;

    if (ev->type != HS_EV_AUDIT || strlen(kid) >= sizeof(ev->kid))
        return HS_ERR_INVALID;
    snprintf(ev->kid, sizeof(ev->kid), "%s", kid);
    msgpack_sbuffer_init(&sb);
    rc = signed_bytes(ev, &sb);
    if (rc == HS_OK) {
        crypto_sign_detached(ev->sig, NULL, (const unsigned char *)sb.data,
                             sb.size, sk);
        ev->sig_len = crypto_sign_BYTES;
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

enum hs_err hs_audit_verify(const struct hs_event *ev,
                            const unsigned char pk[32])
{
    msgpack_sbuffer sb;
    enum hs_err rc;

    if (ev->type != HS_EV_AUDIT || ev->sig_len != crypto_sign_BYTES)
        return HS_ERR_CRYPTO;
    msgpack_sbuffer_init(&sb);
    rc = signed_bytes(ev, &sb);
    if (rc == HS_OK &&
        crypto_sign_verify_detached(ev->sig, (const unsigned char *)sb.data,
                                    sb.size, pk) != 0)
        rc = HS_ERR_CRYPTO;
    msgpack_sbuffer_destroy(&sb);
    return rc == HS_OK ? HS_OK : HS_ERR_CRYPTO;
}

enum hs_err hs_audit_keys_parse(const char *spec, struct hs_audit_keys *out,
                                char *err, size_t errlen)
{
    struct hs_audit_keys tmp;
    const char *p = spec;

    memset(&tmp, 0, sizeof(tmp));
    while (p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        char b64[64];
        size_t klen = colon ? (size_t)(colon - p) : 0, n = 0;

        if (tmp.n == HS_AUDIT_KEYS_MAX || !colon || klen == 0 || len == 0 ||
            klen > HS_KID_MAX || len - klen - 1 >= sizeof(b64)) {
            snprintf(err, errlen, "HS_AUDIT_KEYS: entry %zu: expected "
                                  "kid:base64url(32 bytes), at most %d",
                     tmp.n + 1, HS_AUDIT_KEYS_MAX);
            return HS_ERR_CONFIG;
        }
        memcpy(b64, colon + 1, len - klen - 1);
        b64[len - klen - 1] = '\0';
        if (hs_b64url_decode(b64, tmp.pk[tmp.n], 32, &n) != HS_OK ||
            n != 32) {
            snprintf(err, errlen, "HS_AUDIT_KEYS: entry %zu: the key is not "
                                  "32 bytes of base64url", tmp.n + 1);
            return HS_ERR_CONFIG;
        }
        memcpy(tmp.kid[tmp.n], p, klen);
        tmp.n++;
        p = comma ? comma + 1 : NULL;
    }
    *out = tmp;
    return HS_OK;
}

enum hs_err hs_audit_keys_from_ring(const struct hs_keyring *kr,
                                    struct hs_audit_keys *out)
{
    unsigned char sk[64];
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < HS_AUDIT_KEYS_MAX; i++) {
        const char *kid = hs_keyring_kid(kr, i);

        if (!kid)
            break;
        if (hs_audit_keypair(kr, kid, out->pk[i], sk) != HS_OK) {
            sodium_memzero(sk, sizeof(sk));
            return HS_ERR_INTERNAL;
        }
        snprintf(out->kid[i], sizeof(out->kid[i]), "%s", kid);
    }
    sodium_memzero(sk, sizeof(sk));
    out->n = i;
    return i ? HS_OK : HS_ERR_NOTFOUND;
}

const unsigned char *hs_audit_keys_find(const struct hs_audit_keys *k,
                                        const char *kid)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->kid[i], kid) == 0)
            return k->pk[i];
    return NULL;
}

/* ---- emitting ------------------------------------------------------ */

/* Events whose produce failed, kept (encoded, signed, their seq taken)
 * and sent again before the next new event, so a Kafka outage leaves no
 * gap unless the process dies or more than this many pile up. */
#define PENDING_MAX 1024

struct pending {
    char key[32];
    void *buf;
    size_t len;
};

struct hs_auditor {
    const struct hs_config *cfg;
    struct hs_kafka_producer *producer;
    char svc[32];
    char kid[HS_KID_MAX + 1];
    unsigned char sk[64];
    char topic[128];
    pthread_mutex_t lock;
    int64_t seq; /* last assigned */
    pthread_mutex_t plock; /* pending, npending */
    struct pending pending[PENDING_MAX];
    size_t npending;
    pthread_mutex_t flock; /* one flusher at a time */
    int64_t flush_failed_ms; /* under flock */
};

enum hs_err hs_auditor_new(const struct hs_config *cfg,
                           const struct hs_keyring *kr, const char *program,
                           struct hs_kafka_producer *producer,
                           struct hs_auditor **out)
{
    struct hs_auditor *a = calloc(1, sizeof(*a));
    unsigned char pk[32];
    char inst[16];

    if (!a)
        return HS_ERR_NOMEM;
    a->cfg = cfg;
    a->producer = producer;
    snprintf(a->kid, sizeof(a->kid), "%s", hs_keyring_active_kid(kr));
    if (hs_random_token(6, inst, sizeof(inst)) != HS_OK ||
        strlen(program) + 1 + strlen(inst) >= sizeof(a->svc) ||
        hs_audit_keypair(kr, a->kid, pk, a->sk) != HS_OK ||
        !hs_config_topic(cfg, HS_TOPIC_AUDIT, a->topic, sizeof(a->topic))) {
        hs_auditor_free(a);
        return HS_ERR_INTERNAL;
    }
    snprintf(a->svc, sizeof(a->svc), "%s/%s", program, inst);
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->plock, NULL);
    pthread_mutex_init(&a->flock, NULL);
    *out = a;
    return HS_OK;
}

void hs_auditor_free(struct hs_auditor *a)
{
    if (!a)
        return;
    if (a->npending)
        hs_log(HS_LOG_ERROR, "audit.unsent", HS_KV_INT("events",
                                                        (long)a->npending));
    for (size_t i = 0; i < a->npending; i++)
        free(a->pending[i].buf);
    sodium_memzero(a->sk, sizeof(a->sk));
    free(a);
}

/* Sends what failed before, oldest first; stops at the first failure.
 * 1 when nothing is left. */
static size_t npending(struct hs_auditor *a)
{
    size_t n;

    pthread_mutex_lock(&a->plock);
    n = a->npending;
    pthread_mutex_unlock(&a->plock);
    return n;
}

/* Sends the unsent events, oldest first; 1 when none is left. One thread
 * flushes at a time; another waits for it at most one Kafka time-out, and
 * does not try again if the flush it waited for failed: however many
 * requests queue up in an outage, each waits one time-out at most. Only
 * the flusher takes from the front; keep_pending() adds at the end. */
static int flush_pending(struct hs_auditor *a)
{
    struct timespec until;
    int64_t wait_ms, since = hs_now_ms();

    if (!a || npending(a) == 0)
        return 1;
    wait_ms = a->cfg->kafka_timeout_ms > 0 ? a->cfg->kafka_timeout_ms : 5000;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&a->flock, &until) != 0)
        return 0;
    if (a->flush_failed_ms < since) {
        while (npending(a)) {
            struct pending *p = &a->pending[0];

            if (hs_kafka_produce_acked(a->producer, a->topic, p->key,
                                       strlen(p->key), p->buf,
                                       p->len) != HS_OK) {
                a->flush_failed_ms = hs_now_ms();
                break;
            }
            pthread_mutex_lock(&a->plock);
            free(p->buf);
            memmove(a->pending, a->pending + 1,
                    (a->npending - 1) * sizeof(a->pending[0]));
            a->npending--;
            pthread_mutex_unlock(&a->plock);
            hs_log(HS_LOG_INFO, "audit.resent");
        }
    }
    pthread_mutex_unlock(&a->flock);
    return npending(a) == 0;
}

/* Keeps a copy of an event that could not be sent. */
static void keep_pending(struct hs_auditor *a, const char *key,
                         const msgpack_sbuffer *sb, int64_t seq)
{
    void *buf = malloc(sb->size);

    pthread_mutex_lock(&a->plock);
    if (buf && a->npending < PENDING_MAX) {
        struct pending *p = &a->pending[a->npending++];

        memcpy(buf, sb->data, sb->size);
        snprintf(p->key, sizeof(p->key), "%s", key);
        p->buf = buf;
        p->len = sb->size;
        buf = NULL;
    } else {
        hs_log(HS_LOG_ERROR, "audit.dropped", HS_KV_INT("seq", seq));
    }
    pthread_mutex_unlock(&a->plock);
    free(buf);
}

void hs_audit_flush(struct hs_auditor *a)
{
    (void)flush_pending(a);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static enum hs_err sign_encode(struct hs_auditor *a, struct hs_event *ev,
                               msgpack_sbuffer *sb)
{
    enum hs_err rc = hs_audit_sign(ev, a->kid, a->sk);

    return rc == HS_OK ? hs_event_encode(ev, sb) : rc;
}

/* The event recording s, its seq taken; NULL when out of memory. */
static struct hs_event *build(struct hs_auditor *a,
                              const struct hs_audit_step *s)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));

    if (!ev)
        return NULL;
    hs_event_init(ev, HS_EV_AUDIT, a->cfg->env, hs_now_ms());
    copy(ev->svc, sizeof(ev->svc), a->svc);
    copy(ev->action, sizeof(ev->action), s->action);
    copy(ev->outcome, sizeof(ev->outcome), s->outcome);
    copy(ev->reason, sizeof(ev->reason), s->reason);
    copy(ev->handshake_id, sizeof(ev->handshake_id), s->handshake_id);
    copy(ev->user_id, sizeof(ev->user_id), s->user_id);
    copy(ev->provider, sizeof(ev->provider), s->provider);
    copy(ev->client_ip, sizeof(ev->client_ip), s->client_ip);
    copy(ev->user_agent, sizeof(ev->user_agent), s->user_agent);
    if (s->token && s->token[0])
        hs_crypto_fingerprint(s->token, ev->fingerprint);
    pthread_mutex_lock(&a->lock);
    ev->seq = ++a->seq;
    pthread_mutex_unlock(&a->lock);
    return ev;
}

static const char *event_key(const struct hs_event *ev)
{
    return ev->user_id[0] ? ev->user_id : ev->handshake_id;
}

/* ev (encoded in sb) was not acknowledged: a copy is kept and sent later.
 * held: the step is undone, so the copy says so (outcome "aborted", reason
 * "audit_unavailable"). */
static void not_sent(struct hs_auditor *a, struct hs_event *ev,
                     msgpack_sbuffer *sb, int held, enum hs_err rc)
{
    if (held) {
        copy(ev->outcome, sizeof(ev->outcome), "aborted");
        copy(ev->reason, sizeof(ev->reason), "audit_unavailable");
        msgpack_sbuffer_clear(sb);
        if (sign_encode(a, ev, sb) != HS_OK)
            sb->size = 0;
    }
    if (sb->size)
        keep_pending(a, event_key(ev), sb, ev->seq);
    hs_log(HS_LOG_ERROR, "audit.write_failed",
           HS_KV_STR("action", ev->action), HS_KV_INT("seq", ev->seq),
           HS_KV_INT("held", held), HS_KV_STR("reason", hs_strerror(rc)));
}

static enum hs_err emit(struct hs_auditor *a, const struct hs_audit_step *s,
                        int held)
{
    struct hs_event *ev = build(a, s);
    msgpack_sbuffer sb;
    const char *key;
    enum hs_err rc;

    if (!ev)
        return HS_ERR_NOMEM;
    msgpack_sbuffer_init(&sb);
    rc = sign_encode(a, ev, &sb);
    key = event_key(ev);
    if (rc == HS_OK) {
        /* Behind older unsent events it waits its turn: order is kept
         * and an outage costs one time-out, not two. A step that is not
         * held does not make its request wait on a producer that is
         * failing: it is kept, and sent in order once Kafka answers. */
        if (!held && hs_kafka_producer_failing(a->producer))
            rc = HS_ERR_TRANSIENT;
        else
            rc = flush_pending(a)
                     ? hs_kafka_produce_acked(a->producer, a->topic, key,
                                              strlen(key), sb.data, sb.size)
                     : HS_ERR_TRANSIENT;
        if (rc != HS_OK)
            not_sent(a, ev, &sb, held, rc);
    } else {
        hs_log(HS_LOG_ERROR, "audit.write_failed",
               HS_KV_STR("action", ev->action), HS_KV_INT("seq", ev->seq),
               HS_KV_INT("held", held), HS_KV_STR("reason", hs_strerror(rc)));
    }
    msgpack_sbuffer_destroy(&sb);
    free(ev);
    return rc == HS_OK || rc == HS_ERR_NOMEM ? rc : HS_ERR_UNRECORDED;
}

enum hs_err hs_audit_emit(struct hs_auditor *a, const struct hs_audit_step *s)
{
    return emit(a, s, 0);
}

enum hs_err hs_audit_hold(struct hs_auditor *a, const struct hs_audit_step *s)
{
    return emit(a, s, 1);
}

struct held {
    struct hs_auditor *a;
    struct hs_event *ev;
    hs_kafka_done_fn done;
    void *arg;
};

/* The report of a hs_audit_hold_then() event (or its failed produce). */
static void held_reported(void *arg, enum hs_err rc)
{
    struct held *h = arg;

    if (rc != HS_OK) {
        msgpack_sbuffer sb;

        msgpack_sbuffer_init(&sb);
        not_sent(h->a, h->ev, &sb, 1, rc);
        msgpack_sbuffer_destroy(&sb);
    }
    h->done(h->arg, rc == HS_OK ? HS_OK : HS_ERR_UNRECORDED);
    free(h->ev);
    free(h);
}

void hs_audit_hold_then(struct hs_auditor *a, const struct hs_audit_step *s,
                        hs_kafka_done_fn done, void *arg)
{
    struct held *h;
    msgpack_sbuffer sb;
    enum hs_err rc;

    /* Older events to send first, or a producer that is failing: the
     * waiting path, which keeps the order and bounds the wait. */
    if (npending(a) || hs_kafka_producer_failing(a->producer)) {
        done(arg, emit(a, s, 1));
        return;
    }
    h = calloc(1, sizeof(*h));
    if (!h || !(h->ev = build(a, s))) {
        free(h);
        done(arg, HS_ERR_NOMEM);
        return;
    }
    h->a = a;
    h->done = done;
    h->arg = arg;
    msgpack_sbuffer_init(&sb);
    rc = sign_encode(a, h->ev, &sb);
    if (rc == HS_OK)
        rc = hs_kafka_produce_then(a->producer, a->topic, event_key(h->ev),
                                   strlen(event_key(h->ev)), sb.data,
                                   sb.size, held_reported, h);
    msgpack_sbuffer_destroy(&sb);
    if (rc != HS_OK)
        held_reported(h, rc); /* nothing queued: no report will come */
}

struct latch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t left;
};

struct latch_slot {
    struct latch *latch;
    enum hs_err *rc;
};

static void latch_down(void *arg, enum hs_err rc)
{
    struct latch_slot *s = arg;

    pthread_mutex_lock(&s->latch->lock);
    *s->rc = rc;
    if (--s->latch->left == 0)
        pthread_cond_signal(&s->latch->cond);
    pthread_mutex_unlock(&s->latch->lock);
}

void hs_audit_hold_all(struct hs_auditor *a, const struct hs_audit_step *s,
                       size_t n, enum hs_err *rcs)
{
    struct latch l = {.left = n};
    struct latch_slot *slots = calloc(n ? n : 1, sizeof(*slots));

    if (!slots) {
        for (size_t i = 0; i < n; i++)
            rcs[i] = HS_ERR_NOMEM;
        return;
    }
    pthread_mutex_init(&l.lock, NULL);
    pthread_cond_init(&l.cond, NULL);
    for (size_t i = 0; i < n; i++) {
        slots[i] = (struct latch_slot){&l, &rcs[i]};
        hs_audit_hold_then(a, &s[i], latch_down, &slots[i]);
    }
    /* Each report comes within the Kafka time-out and a margin. */
    pthread_mutex_lock(&l.lock);
    while (l.left)
        pthread_cond_wait(&l.cond, &l.lock);
    pthread_mutex_unlock(&l.lock);
    pthread_cond_destroy(&l.cond);
    pthread_mutex_destroy(&l.lock);
    free(slots);
}
