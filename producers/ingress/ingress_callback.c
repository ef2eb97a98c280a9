/*
 * ingress_callback: the provider's answer (see ingress_callback.h).
 *
 * Order matters: every check that can refuse runs before anything is
 * produced, so a refused callback has no side effect (SECURITY 1, 2, 8,
 * 10); the browser sees the 302 only after Kafka acknowledged the event
 * with acks=all (SECURITY 12). The code and the PKCE verifier leave this
 * file only sealed (HS_KEY_PIPELINE, associated data = handshake id), and
 * every buffer of ours that held them in clear is wiped.
 */
#include "ingress_callback.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_http.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_state.h"

#define CODE_MAX 2048 /* longest authorization code we accept */
#define ISS_MAX 255   /* struct hs_event iss holds 255 bytes + NUL */

/* What a provider may send back (RFC 6749 §4.1.2, RFC 9207 iss), plus
 * extras that common providers add and we ignore (Google: scope,
 * authuser, prompt, hd; Microsoft Entra: session_state). Anything else is
 * refused: the callback has one shape. */
static const char *const callback_params[] = {
    "code",  "state",         "error",    "error_description", "error_uri",
    "iss",   "scope",         "authuser", "prompt",            "hd",
    "session_state", NULL};

static unsigned refuse(struct ingress_callback_result *out, unsigned status,
                       const char *reason, const char *title,
                       const char *text)
{
    out->status = status;
    out->reason = reason;
    (void)ingress_page_plain(&out->page, status, title, text);
    return status;
}

static unsigned malformed(struct ingress_callback_result *out,
                          const char *reason)
{
    return refuse(out, 400, reason, "This sign-in cannot be completed",
                  "The answer from the provider was malformed. Start again "
                  "from your editor.");
}

static unsigned not_ours(struct ingress_callback_result *out,
                         const char *reason)
{
    return refuse(out, 400, reason, "This sign-in cannot be completed",
                  "This answer does not belong to a sign-in we started, or "
                  "it was changed on the way. Start again from your "
                  "editor.");
}

/* Printable ASCII only: provider error codes and descriptions are
 * RFC 6749 %x20-7E. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/* Copies s into dst (cap bytes), cut to fit: bounded, not refused. */
static void copy_bounded(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Wipes the string value of key in o (jansson keeps its own copy). */
static void wipe_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (json_is_string(v))
        hs_wipe((char *)json_string_value(v), json_string_length(v));
}

/* Builds and seals callback.received for st into sb. */
static enum hs_err build_event(const struct ingress *in, const char *route,
                               const struct hs_state *st, const char *code,
                               const char *error, const char *edesc,
                               const char *iss, int64_t now_ms,
                               msgpack_sbuffer *sb)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));
    json_t *secret = NULL;
    char *pt = NULL, redirect_uri[400];
    size_t sealed_len;
    enum hs_err rc = HS_ERR_NOMEM;

    if (!ev)
        goto out;
    rc = ingress_redirect_uri(in, route, st->provider, redirect_uri,
                              sizeof(redirect_uri));
    if (rc != HS_OK)
        goto out;
    rc = HS_ERR_NOMEM;
    secret = json_pack("{s:s,s:s,s:s}", "verifier", st->verifier, "nonce",
                       st->nonce, "redirect_uri", redirect_uri);
    if (!secret ||
        (code && json_object_set_new(secret, "code", json_string(code))))
        goto out;
    pt = json_dumps(secret, JSON_COMPACT);
    if (!pt)
        goto out;
    hs_event_init(ev, HS_EV_CALLBACK_RECEIVED, in->cfg->env, now_ms);
    copy_bounded(ev->handshake_id, sizeof(ev->handshake_id),
                 st->handshake_id);
    copy_bounded(ev->provider, sizeof(ev->provider), st->provider);
    ev->flow = st->flow;
    copy_bounded(ev->subject, sizeof(ev->subject), st->subject);
    if (error) {
        copy_bounded(ev->error, sizeof(ev->error), error);
        copy_bounded(ev->error_description, sizeof(ev->error_description),
                     edesc ? edesc : "");
    }
    if (iss)
        copy_bounded(ev->iss, sizeof(ev->iss), iss);
    copy_bounded(ev->kid, sizeof(ev->kid), hs_keyring_active_kid(in->kr));
    rc = hs_aead_seal(in->kr, HS_KEY_PIPELINE, pt, strlen(pt),
                      st->handshake_id, strlen(st->handshake_id), ev->sealed,
                      sizeof(ev->sealed), &sealed_len);
    if (rc != HS_OK)
        goto out;
    ev->sealed_len = sealed_len;
    rc = hs_event_encode(ev, sb);
out:
    if (pt) {
        hs_wipe(pt, strlen(pt));
        free(pt);
    }
    if (secret) {
        wipe_member(secret, "code");
        wipe_member(secret, "verifier");
        json_decref(secret);
    }
    if (ev) {
        hs_event_wipe(ev);
        free(ev);
    }
    return rc;
}

static unsigned unbound(struct ingress_callback_result *out)
{
    return refuse(out, 400, "unbound_state",
                  "This sign-in cannot be completed",
                  "This sign-in was started in another browser. Finish it "
                  "in the browser where it began, or start again from your "
                  "editor.");
}

/* A state of another environment (a shared app with one callback URL):
 * 302 to that environment's base URL (HS_ENV_ROUTES) with the same path
 * and query, reason "routed". It reads only the readable prefix: the
 * ingress there verifies the sealed state, which names its environment
 * too, so a changed prefix fails there (or here, when it names this one).
 * 400 for an environment with no route. */
static unsigned route_elsewhere(const struct ingress *in, const char *env,
                                const char *provider, const char *route,
                                const struct ingress_param *p, size_t n,
                                struct ingress_callback_result *out)
{
    char base[256], query[3500] = "";
    const char *path = strstr(route, "{p}");
    int len;

    if (!hs_config_env_route(in->cfg, env, base, sizeof(base)))
        return refuse(out, 400, "unknown_env",
                      "This sign-in cannot be completed",
                      "This answer belongs to an environment this service "
                      "does not know. Start again from your editor.");
    for (size_t i = 0; i < n; i++)
        if (hs_http_form_add(query, sizeof(query), p[i].key, p[i].value) !=
            HS_OK)
            return malformed(out, "too_long");
    /* route is a template with one "{p}". */
    len = snprintf(out->location, sizeof(out->location), "%s%.*s%s%s?%s",
                   base, path ? (int)(path - route) : (int)strlen(route),
                   route, path ? provider : "", path ? path + 3 : "", query);
    if (len < 0 || (size_t)len >= sizeof(out->location))
        return malformed(out, "too_long");
    out->reason = "routed";
    return out->status = 302;
}

/* A callback that passed every check, being recorded: its audit record,
 * then its event, each acknowledged before the next (hs_kafka_produce_then
 * chains them on the producer's report thread); then the answer. The
 * connection waits suspended meanwhile, or, without one, the caller (cond). */
struct callback_job {
    const struct ingress *in;
    struct MHD_Connection *conn;  /* resumed at the end; NULL: cond */
    struct hs_audit_step step;
    msgpack_sbuffer ev;           /* callback.received, sealed */
    char pname[32];
    pthread_mutex_t lock;         /* done, cond: without conn */
    pthread_cond_t cond;
    int done;
    struct ingress_callback_result res;
};

/* Every check, in order; 0 when all passed: then st is the verified state
 * and out->handshake_id set. Otherwise out is the answer. */
static unsigned check(const struct ingress *in, const char *provider,
                      const char *route, const struct ingress_param *p,
                      size_t n, const char *cookies, int64_t now_ms,
                      struct hs_state *st, struct ingress_callback_result *out)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    const char *code, *state, *error, *iss, *edesc, *why = "malformed_query";
    char bind[44], env[32];
    unsigned char bh[32];
    enum hs_err rc;
    unsigned status = 0;

    memset(out, 0, sizeof(*out));
    if (!prov)
        return refuse(out, 404, "unknown_provider", "Unknown provider",
                      "This service does not know that provider.");
    if (ingress_query_verify(p, n, callback_params, &why) != HS_OK)
        return malformed(out, why);
    code = ingress_param_get(p, n, "code");
    state = ingress_param_get(p, n, "state");
    error = ingress_param_get(p, n, "error");
    edesc = ingress_param_get(p, n, "error_description");
    iss = ingress_param_get(p, n, "iss");
    if (!state || !*state)
        return refuse(out, 400, "missing_state",
                      "This sign-in cannot be completed",
                      "The answer from the provider had no state. Start "
                      "again from your editor.");
    if ((code != NULL) == (error != NULL))
        return malformed(out, code ? "code_and_error" : "no_code_no_error");
    if ((code && (!*code || strlen(code) > CODE_MAX)) ||
        (error && (!*error || !printable(error))) ||
        (edesc && !printable(edesc)) ||
        (iss && (!*iss || strlen(iss) > ISS_MAX)))
        return malformed(out, "malformed_value");
    if (hs_state_env(state, env, sizeof(env)) != HS_OK)
        return not_ours(out, "forged_state");
    if (strcmp(env, in->cfg->env) != 0)
        return route_elsewhere(in, env, provider, route, p, n, out);
    rc = hs_state_verify(in->kr, state, now_ms,
                         (int64_t)in->cfg->state_ttl_s * 1000, st);
    if (rc == HS_ERR_EXPIRED)
        return refuse(out, 400, "expired_state", "This sign-in expired",
                      "This sign-in took too long and expired. Start again "
                      "from your editor.");
    if (rc != HS_OK)
        return not_ours(out, "forged_state");
    copy_bounded(out->handshake_id, sizeof(out->handshake_id),
                 st->handshake_id);
    if (strcmp(st->provider, prov->name) != 0 ||
        /* RFC 9207: when the provider names itself, it must be the one
         * the state was issued for (mix-up defence, SECURITY 8). */
        (iss && prov->issuer[0] && strcmp(iss, prov->issuer) != 0)) {
        status = refuse(out, 400,
                        strcmp(st->provider, prov->name) != 0
                            ? "wrong_provider"
                            : "wrong_issuer",
                        "This sign-in cannot be completed",
                        "This answer came back from a different provider "
                        "than the one the sign-in went to. Start again from "
                        "your editor.");
    } else if (ingress_binding_get(cookies, in->https, bind, sizeof(bind)) !=
               HS_OK) {
        status = unbound(out);
    } else {
        hs_sha256(bind, strlen(bind), bh);
        if (!hs_memeq(bh, st->binding, sizeof(bh)))
            status = unbound(out);
    }
    hs_wipe(bind, sizeof(bind));
    if (status)
        hs_wipe(st, sizeof(*st));
    return status;
}

/* The answer, once the job ended with rc. */
static void job_answer(struct callback_job *j, enum hs_err rc)
{
    char text[300];

    if (rc == HS_OK) {
        j->res.status = 302;
        snprintf(j->res.location, sizeof(j->res.location),
                 "/web/handshake/%s", j->res.handshake_id);
        return;
    }
    /* "Nothing was connected" too: the integration suite and people
     * reading the page both look for it. */
    snprintf(text, sizeof(text),
             "We could not record the answer from %s. Nothing was lost on "
             "your side: start again from your editor. Nothing was "
             "connected.",
             j->pname);
    (void)refuse(&j->res, 503,
                 rc == HS_ERR_UNRECORDED ? "audit_unavailable"
                                         : "emit_failed",
                 "Temporarily unavailable", text);
}

static void job_end(struct callback_job *j, enum hs_err rc)
{
    struct MHD_Connection *conn = j->conn;

    job_answer(j, rc);
    if (j->ev.data) {
        hs_wipe(j->ev.data, j->ev.size);
        msgpack_sbuffer_destroy(&j->ev);
    }
    if (conn) {
        /* The handler answers once resumed (and may free j at once). */
        ingress_suspended_add(-1);
        MHD_resume_connection(conn);
        return;
    }
    pthread_mutex_lock(&j->lock);
    j->done = 1;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void event_reported(void *arg, enum hs_err rc)
{
    job_end(arg, rc == HS_OK ? HS_OK : HS_ERR_TRANSIENT);
}

/* Held: nothing goes to hs.callbacks unrecorded. */
static void audit_reported(void *arg, enum hs_err rc)
{
    struct callback_job *j = arg;
    char topic[128];

    if (rc == HS_OK) {
        rc = hs_config_topic(j->in->cfg, HS_TOPIC_CALLBACKS, topic,
                             sizeof(topic))
                 ? hs_kafka_produce_then(j->in->producer, topic,
                                         j->res.handshake_id,
                                         strlen(j->res.handshake_id),
                                         j->ev.data, j->ev.size,
                                         event_reported, j)
                 : HS_ERR_CONFIG;
        if (rc == HS_OK)
            return;
        rc = HS_ERR_TRANSIENT; /* emit_failed */
    }
    job_end(j, rc);
}

/* Checks the callback; when it passes, a new job in *job (not started),
 * 0 returned. Otherwise out is the answer. */
static unsigned job_new(const struct ingress *in, const char *provider,
                        const char *route, const struct ingress_param *p,
                        size_t n, const char *cookies, int64_t now_ms,
                        struct ingress_callback_result *out,
                        struct callback_job **job)
{
    struct callback_job *j;
    struct hs_state st;
    unsigned status = check(in, provider, route, p, n, cookies, now_ms, &st,
                            out);
    enum hs_err rc;

    *job = NULL;
    if (status)
        return status;
    j = calloc(1, sizeof(*j));
    if (!j) {
        hs_wipe(&st, sizeof(st));
        return refuse(out, 503, "emit_failed", "Temporarily unavailable",
                      "We could not record this answer. Start again from "
                      "your editor.");
    }
    j->in = in;
    j->res = *out;
    ingress_provider_display(st.provider, j->pname, sizeof(j->pname));
    msgpack_sbuffer_init(&j->ev);
    rc = build_event(in, route, &st, ingress_param_get(p, n, "code"),
                     ingress_param_get(p, n, "error"),
                     ingress_param_get(p, n, "error_description"),
                     ingress_param_get(p, n, "iss"), now_ms, &j->ev);
    hs_wipe(&st, sizeof(st));
    j->step = (struct hs_audit_step){
        .action = "callback.received", .outcome = "ok",
        .reason = ingress_param_get(p, n, "error") ? "provider_error"
                                                   : "code",
        .handshake_id = j->res.handshake_id, .provider = provider};
    if (rc != HS_OK) {
        job_answer(j, HS_ERR_TRANSIENT);
        msgpack_sbuffer_destroy(&j->ev);
        *out = j->res;
        free(j);
        return out->status;
    }
    *job = j;
    return 0;
}

unsigned ingress_callback_accept(const struct ingress *in,
                                 struct MHD_Connection *conn,
                                 const char *provider, const char *route,
                                 const struct ingress_param *p, size_t n,
                                 const char *cookies, int64_t now_ms,
                                 struct ingress_callback_result *out)
{
    struct callback_job *j;
    unsigned status = job_new(in, provider, route, p, n, cookies, now_ms,
                              out, &j);

    if (status)
        return status;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    ingress_audit_hold_then(in, conn, &j->step, audit_reported, j);
    pthread_mutex_lock(&j->lock);
    while (!j->done)
        pthread_cond_wait(&j->cond, &j->lock);
    pthread_mutex_unlock(&j->lock);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    *out = j->res;
    free(j);
    return out->status;
}

enum MHD_Result ingress_callback(const struct ingress *in,
                                 struct MHD_Connection *conn,
                                 struct ingress_req *r, const char *provider)
{
    struct ingress_callback_result *res;
    struct callback_job *j = r->callback;
    enum MHD_Result ret;
    int routed;

    if (j) { /* resumed: the job ended */
        r->callback = NULL;
        res = &j->res;
    } else {
        res = calloc(1, sizeof(*res));
        if (!res)
            return MHD_NO;
        if (r->too_many_params)
            (void)malformed(res, "too_many_params");
        else if (job_new(in, provider, r->route, r->params, r->nparams,
                         ingress_req_cookies(conn), hs_now_ms(), res,
                         &j) == 0) {
            /* Answered once resumed, after both acknowledgements: the
             * thread serves other connections meanwhile. */
            free(res);
            j->conn = conn;
            r->callback = j;
            ingress_suspended_add(1);
            MHD_suspend_connection(conn);
            ingress_audit_hold_then(in, conn, &j->step, audit_reported, j);
            return MHD_YES;
        }
    }
    routed = res->status == 302 && res->reason &&
             strcmp(res->reason, "routed") == 0;
    /* callback.received was recorded before the emit (and an unrecorded
     * one is in the trail as aborted already). */
    if (routed || (res->status != 302 &&
                   strcmp(res->reason ? res->reason : "",
                          "audit_unavailable") != 0)) {
        int failed = res->status == 503;
        struct hs_audit_step s = {
            .action = routed   ? "callback.routed"
                      : failed ? "callback.emit_failed"
                               : "callback.rejected",
            .outcome = routed ? "ok" : failed ? "failed" : "rejected",
            .reason = res->reason,
            .handshake_id = res->handshake_id,
            .provider = provider};

        ingress_audit(in, conn, &s);
    }
    if (routed) {
        hs_log(HS_LOG_INFO, "callback.routed",
               HS_KV_STR("provider", provider),
               HS_KV_STR("request_id", r->request_id));
        ret = ingress_respond_redirect(conn, r, res->location);
    } else if (res->status == 302) {
        char labels[64];

        hs_metrics_add("hs_callbacks_emitted_total",
                       hs_metrics_labels(labels, sizeof(labels), "provider",
                                         provider, NULL, NULL),
                       1);
        hs_log(HS_LOG_INFO, "callback.received",
               HS_KV_STR("handshake_id", res->handshake_id),
               HS_KV_STR("provider", provider),
               HS_KV_STR("outcome",
                         ingress_param_get(r->params, r->nparams, "error")
                             ? "error"
                             : "code"),
               HS_KV_STR("request_id", r->request_id));
        ret = ingress_respond_redirect(conn, r, res->location);
    } else {
        hs_log(res->status == 503 ? HS_LOG_ERROR : HS_LOG_WARN,
               res->status == 503 ? "callback.emit_failed"
                                  : "callback.rejected",
               HS_KV_STR("reason", res->reason ? res->reason : "unknown"),
               HS_KV_STR("handshake_id", res->handshake_id),
               HS_KV_STR("provider", provider),
               HS_KV_STR("request_id", r->request_id));
        ret = ingress_respond_page(conn, r, &res->page);
    }
    if (j)
        free(j); /* res is in it */
    else
        free(res);
    return ret;
}
