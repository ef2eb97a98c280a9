/* relay_deliver: one hs.webhooks message (contract in relay_deliver.h). */
#include "relay_deliver.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hs_http.h"
#include "hs_log.h"
#include "hs_webhook.h"

#define ATTEMPTS 3

static const char *const hop_by_hop[] = {
    "Host", "Content-Length", "Connection", "Transfer-Encoding", "Expect",
    "Keep-Alive", "TE", "Trailer", "Upgrade", NULL};

static int dropped(const char *name)
{
    for (size_t i = 0; hop_by_hop[i]; i++)
        if (strcasecmp(name, hop_by_hop[i]) == 0)
            return 1;
    return 0;
}

void relay_request_free(struct relay_request *rq)
{
    if (rq->body) {
        hs_wipe(rq->body, rq->blen);
        free(rq->body);
    }
    for (size_t i = 0; rq->headers && rq->headers[i]; i++) {
        hs_wipe(rq->headers[i], strlen(rq->headers[i]));
        free(rq->headers[i]);
    }
    free(rq->headers);
    free(rq->url);
    memset(rq, 0, sizeof(*rq));
}

static enum hs_err parse_headers(json_t *hdrs, struct relay_request *out)
{
    size_t i, n = 0;
    json_t *h;

    out->headers = calloc(json_array_size(hdrs) + 1, sizeof(char *));
    if (!out->headers)
        return HS_ERR_NOMEM;
    json_array_foreach(hdrs, i, h) {
        const char *k = json_string_value(json_array_get(h, 0));
        const char *v = json_string_value(json_array_get(h, 1));
        size_t len;

        if (!json_is_array(h) || json_array_size(h) != 2 || !k || !v || !*k)
            return HS_ERR_DECODE;
        if (dropped(k))
            continue;
        len = strlen(k) + strlen(v) + 3;
        out->headers[n] = malloc(len);
        if (!out->headers[n])
            return HS_ERR_NOMEM;
        snprintf(out->headers[n++], len, "%s: %s", k, v);
    }
    return HS_OK;
}

enum hs_err relay_request_parse(const char *json, size_t len,
                                const char *base, struct relay_request *out)
{
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const char *path = json_string_value(json_object_get(o, "path"));
    const char *query = json_string_value(json_object_get(o, "query"));
    const char *b64 = json_string_value(json_object_get(o, "body"));
    json_t *hdrs = json_object_get(o, "headers");
    enum hs_err rc = HS_ERR_DECODE;
    size_t ulen;

    memset(out, 0, sizeof(*out));
    if (!o || !path || path[0] != '/' || !query || !b64 ||
        !json_is_array(hdrs))
        goto out;
    ulen = strlen(base) + strlen(path) + strlen(query) + 2;
    out->url = malloc(ulen);
    out->body = malloc(strlen(b64) / 4 * 3 + 1);
    if (!out->url || !out->body) {
        rc = HS_ERR_NOMEM;
        goto out;
    }
    snprintf(out->url, ulen, "%s%s%s%s", base, path, *query ? "?" : "",
             query);
    if (sodium_base642bin(out->body, strlen(b64) / 4 * 3 + 1, b64,
                          strlen(b64), NULL, &out->blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        goto out;
    rc = parse_headers(hdrs, out);
out:
    json_decref(o);
    if (rc != HS_OK)
        relay_request_free(out);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* POSTs rq; the local status, or 0 with *error when there was none. */
static int deliver(const struct hs_worker *w, const struct relay_request *rq,
                   const char **error)
{
    struct hs_http_request req = {
        .method = "POST", .url = rq->url, .body = (const char *)rq->body,
        .body_len = rq->blen,
        .headers = (const char *const *)rq->headers,
        .timeout_ms = w->cfg->http_timeout_ms, .allow_http = 1};

    for (int i = 0; i < ATTEMPTS; i++) {
        struct hs_http_response res;
        enum hs_err rc = hs_http_do(&req, &res);

        if (rc == HS_OK) {
            int status = (int)res.status;

            hs_http_response_cleanup(&res);
            return status;
        }
        *error = hs_strerror(rc);
        if (rc != HS_ERR_TRANSIENT && rc != HS_ERR_TIMEOUT)
            break; /* a bad URL or header: trying again changes nothing */
        if (i + 1 < ATTEMPTS && hs_worker_running())
            sleep_ms(500L << i);
    }
    return 0;
}

/* webhook.relayed for wh, acknowledged. */
static enum hs_err answer(struct hs_worker *w, const struct hs_webhook *wh,
                          int status, const char *error)
{
    struct hs_webhook out;
    msgpack_sbuffer sb;
    char topic[128];
    enum hs_err rc;

    hs_webhook_init(&out, HS_WH_RELAYED, wh->env, hs_now_ms());
    snprintf(out.provider, sizeof(out.provider), "%s", wh->provider);
    snprintf(out.ref, sizeof(out.ref), "%s", wh->id);
    snprintf(out.error, sizeof(out.error), "%s", error ? error : "");
    out.status = status;
    msgpack_sbuffer_init(&sb);
    rc = hs_webhook_encode(&out, &sb);
    if (rc == HS_OK)
        rc = hs_config_topic(w->cfg, HS_TOPIC_WEBHOOKS, topic, sizeof(topic))
                 ? hs_kafka_produce_acked(w->producer, topic, out.env,
                                          strlen(out.env), sb.data, sb.size)
                 : HS_ERR_INTERNAL;
    msgpack_sbuffer_destroy(&sb);
    return rc == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
}

enum hs_err relay_handle(struct hs_worker *w, const struct hs_kafka_msg *m,
                         char *reason, size_t reasonlen)
{
    struct hs_webhook wh;
    struct relay_request rq = {0};
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    const char *error = NULL;
    int status;
    enum hs_err rc;

    if (hs_webhook_decode(m->val, m->vallen, &wh) != HS_OK) {
        snprintf(reason, reasonlen, "undecodable_event");
        return HS_ERR_DECODE;
    }
    if (wh.type != HS_WH_RECEIVED || strcmp(wh.env, w->cfg->env) != 0) {
        hs_webhook_free(&wh);
        return HS_OK; /* an answer, or another environment's request */
    }
    pt = malloc(wh.sealed_len + 1);
    rc = pt ? hs_aead_open(w->kr, HS_KEY_PIPELINE, wh.sealed, wh.sealed_len,
                           wh.id, strlen(wh.id), pt, wh.sealed_len, &ptlen)
            : HS_ERR_NOMEM;
    if (rc == HS_OK)
        rc = relay_request_parse((const char *)pt, ptlen, w->cfg->relay_url,
                                 &rq);
    if (rc != HS_OK) {
        snprintf(reason, reasonlen, "unreadable_sealed_part");
        goto out;
    }
    status = deliver(w, &rq, &error);
    rc = answer(w, &wh, status, status ? NULL : error);
    if (rc == HS_OK) {
        struct hs_audit_step s = {
            .action = "webhook.relayed",
            .outcome = status >= 200 && status < 300 ? "ok" : "failed",
            .reason = status ? NULL : error, .provider = wh.provider};

        hs_worker_audit(w, &s);
        hs_log(status >= 200 && status < 300 ? HS_LOG_INFO : HS_LOG_WARN,
               "webhook.relayed", HS_KV_STR("id", wh.id),
               HS_KV_STR("provider", wh.provider),
               HS_KV_INT("status", status),
               HS_KV_STR("error", status ? NULL : error));
    }
out:
    relay_request_free(&rq);
    if (pt) {
        hs_wipe(pt, wh.sealed_len + 1);
        free(pt);
    }
    hs_webhook_free(&wh);
    return rc == HS_ERR_NOMEM ? HS_ERR_TRANSIENT : rc;
}
