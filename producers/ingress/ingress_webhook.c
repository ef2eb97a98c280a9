/* ingress_webhook: third-party webhooks onto hs.webhooks (contract in
 * ingress_webhook.h). */
#include "ingress_webhook.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hs_audit.h"
#include "hs_crypto.h"
#include "hs_http.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_webhook.h"
#include "ingress_params.h"

/* hex (64 characters, any case) == HMAC-SHA256(secret, p1 p2 p3 body). */
static int mac_matches(const char *secret, const char *p1, const char *p2,
                       const char *p3, const void *body, size_t len,
                       const char *hex)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES], given[sizeof(mac)];
    crypto_auth_hmacsha256_state st;
    size_t n = 0;
    const char *end = NULL;
    int ok;

    if (strlen(hex) != 2 * sizeof(given) ||
        sodium_hex2bin(given, sizeof(given), hex, strlen(hex), NULL, &n,
                       &end) != 0 ||
        n != sizeof(given) || *end != '\0')
        return 0;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)p1, strlen(p1));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)p2, strlen(p2));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)p3, strlen(p3));
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    ok = sodium_memcmp(mac, given, sizeof(mac)) == 0;
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(mac, sizeof(mac));
    return ok;
}

static int digits(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

enum hs_err ingress_webhook_verify(const struct hs_provider *prov,
                                   const char *sig, const char *ts,
                                   const void *body, size_t len,
                                   int64_t now_s, const char **why)
{
    if (prov->hook == HS_HOOK_SLACK) {
        /* https://api.slack.com/authentication/verifying-requests-from-
         * slack: v0=hex(HMAC-SHA256(secret, "v0:" ts ":" body)). */
        long long t;

        if (!sig || !ts) {
            *why = "unsigned";
            return HS_ERR_DENIED;
        }
        if (!digits(ts, 12) || strncmp(sig, "v0=", 3) != 0) {
            *why = "bad_signature";
            return HS_ERR_DENIED;
        }
        t = strtoll(ts, NULL, 10);
        if (t < now_s - INGRESS_WEBHOOK_WINDOW_S ||
            t > now_s + INGRESS_WEBHOOK_WINDOW_S) {
            *why = "stale";
            return HS_ERR_DENIED;
        }
        if (!mac_matches(prov->hook_secret, "v0:", ts, ":", body, len,
                         sig + 3)) {
            *why = "bad_signature";
            return HS_ERR_DENIED;
        }
        return HS_OK;
    }
    if (prov->hook == HS_HOOK_HMAC) {
        size_t plen = strlen(prov->hook_prefix);

        if (!sig) {
            *why = "unsigned";
            return HS_ERR_DENIED;
        }
        if (strncmp(sig, prov->hook_prefix, plen) != 0 ||
            !mac_matches(prov->hook_secret, "", "", "", body, len,
                         sig + plen)) {
            *why = "bad_signature";
            return HS_ERR_DENIED;
        }
        return HS_OK;
    }
    *why = "no_webhooks";
    return HS_ERR_DENIED;
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    (void)kind;
    json_array_append_new(cls, json_pack("[ss]", key, value ? value : ""));
    return MHD_YES;
}

/* The request as JSON (hs_webhook.h), sealed for the event wh into
 * wh->sealed (malloc'd). */
static enum hs_err seal_request(const struct ingress *in,
                                struct MHD_Connection *conn,
                                const struct ingress_req *r, const char *path,
                                struct hs_webhook *wh)
{
    char query[4096] = "";
    size_t b64len = sodium_base64_ENCODED_LEN(r->body_len,
                                              sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len), *text = NULL;
    json_t *hdrs = json_array(), *o = NULL;
    enum hs_err rc = HS_ERR_NOMEM;

    for (size_t i = 0; i < r->nparams; i++)
        if (hs_http_form_add(query, sizeof(query), r->params[i].key,
                             r->params[i].value ? r->params[i].value : "") !=
            HS_OK)
            goto out;
    if (!b64 || !hdrs)
        goto out;
    sodium_bin2base64(b64, b64len, (const unsigned char *)r->body,
                      r->body_len, sodium_base64_VARIANT_ORIGINAL);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, hdrs);
    o = json_pack("{s:s,s:s,s:O,s:s}", "path", path, "query", query,
                  "headers", hdrs, "body", b64);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    wh->sealed = malloc(HS_WEBHOOK_SEALED_MAX);
    if (!text || !wh->sealed)
        goto out;
    rc = hs_aead_seal(in->kr, HS_KEY_PIPELINE, text, strlen(text), wh->id,
                      strlen(wh->id), wh->sealed, HS_WEBHOOK_SEALED_MAX,
                      &wh->sealed_len);
out:
    if (text) {
        hs_wipe(text, strlen(text));
        free(text);
    }
    if (b64) {
        hs_wipe(b64, b64len);
        free(b64);
    }
    json_decref(o);
    json_decref(hdrs);
    return rc;
}

static void count(const char *provider, const char *outcome)
{
    char labels[96];

    hs_metrics_add("hs_webhooks_total",
                   hs_metrics_labels(labels, sizeof(labels), "provider",
                                     provider, "outcome", outcome),
                   1);
}

static enum MHD_Result refuse(const struct ingress *in,
                              struct MHD_Connection *conn,
                              struct ingress_req *r, const char *provider,
                              unsigned status, const char *why,
                              const char *message)
{
    struct hs_audit_step s = {.action = "webhook.rejected",
                              .outcome = "rejected", .reason = why,
                              .provider = provider};

    ingress_audit(in, conn, &s);
    count(provider, why);
    hs_log(HS_LOG_WARN, "webhook.rejected", HS_KV_STR("provider", provider),
           HS_KV_STR("reason", why), HS_KV_STR("request_id", r->request_id));
    return ingress_respond_error(conn, r, status, why, message);
}

/* In the transaction open on pg: the signature is new (else
 * HS_ERR_CONFLICT); the step recorded (webhook.received, held); the event
 * acknowledged by Kafka. */
static enum hs_err publish(const struct ingress *in,
                           struct MHD_Connection *conn, struct hs_pg *pg,
                           const char *sig_hash, const struct hs_webhook *wh)
{
    const char *p[1] = {sig_hash};
    struct hs_audit_step s = {.action = "webhook.received", .outcome = "ok",
                              .reason = wh->env, .provider = wh->provider};
    char topic[128];
    msgpack_sbuffer sb;
    PGresult *res = NULL;
    enum hs_err rc;

    rc = hs_pg_query(pg,
                     "WITH old AS (DELETE FROM webhook_seen WHERE seen_at < "
                     "now() - interval '10 minutes') INSERT INTO "
                     "webhook_seen (sig_hash) VALUES ($1) ON CONFLICT DO "
                     "NOTHING RETURNING 1",
                     1, p, &res);
    if (rc == HS_OK && PQntuples(res) != 1)
        rc = HS_ERR_CONFLICT;
    PQclear(res);
    if (rc == HS_OK)
        rc = ingress_audit_hold(in, conn, &s);
    if (rc != HS_OK)
        return rc == HS_ERR_CONFLICT || rc == HS_ERR_UNRECORDED
                   ? rc
                   : HS_ERR_TRANSIENT;
    msgpack_sbuffer_init(&sb);
    rc = hs_webhook_encode(wh, &sb);
    if (rc == HS_OK)
        rc = hs_config_topic(in->cfg, HS_TOPIC_WEBHOOKS, topic, sizeof(topic))
                 ? hs_kafka_produce_acked(in->producer, topic, wh->env,
                                          strlen(wh->env), sb.data, sb.size)
                 : HS_ERR_INTERNAL;
    msgpack_sbuffer_destroy(&sb);
    return rc == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
}

enum MHD_Result ingress_webhook(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r, const char *provider)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    const char *env = ingress_param_get(r->params, r->nparams, "env");
    const char *sig, *ts = NULL, *why = NULL;
    char url[256], path[128], sig_hash[44], *keyed;
    struct hs_webhook wh;
    struct hs_pg *pg;
    enum hs_err rc;
    size_t n;

    if (!prov || prov->hook == HS_HOOK_NONE)
        return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND,
                                     "unknown_webhook",
                                     "This provider sends no webhooks "
                                     "here.");
    if (r->too_many_params)
        return refuse(in, conn, r, prov->name, MHD_HTTP_BAD_REQUEST,
                      "too_many_params", "The query has too many parameters.");
    if (!env)
        env = in->cfg->env;
    if (strlen(env) >= sizeof(wh.env) ||
        (strcmp(env, in->cfg->env) != 0 &&
         !hs_config_env_route(in->cfg, env, url, sizeof(url))))
        return refuse(in, conn, r, prov->name, MHD_HTTP_BAD_REQUEST,
                      "unknown_env",
                      "env must name this environment or one of "
                      "HS_ENV_ROUTES.");
    sig = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND,
        prov->hook == HS_HOOK_SLACK ? "X-Slack-Signature"
                                    : prov->hook_header);
    if (prov->hook == HS_HOOK_SLACK)
        ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         "X-Slack-Request-Timestamp");
    if (ingress_webhook_verify(prov, sig, ts, r->body ? r->body : "",
                               r->body_len, hs_now_ms() / 1000,
                               &why) != HS_OK)
        return refuse(in, conn, r, prov->name, MHD_HTTP_UNAUTHORIZED, why,
                      strcmp(why, "stale") == 0
                          ? "The request is older than 5 minutes."
                          : "The request is not signed with this "
                            "provider's webhook secret.");
    /* One use per signature, per provider. */
    n = strlen(prov->name) + strlen(sig) + 2;
    keyed = malloc(n);
    if (!keyed)
        return MHD_NO;
    snprintf(keyed, n, "%s:%s", prov->name, sig);
    hs_sha256_b64url(keyed, strlen(keyed), sig_hash);
    free(keyed);
    snprintf(path, sizeof(path), INGRESS_WEBHOOK_PREFIX "%s", prov->name);
    hs_webhook_init(&wh, HS_WH_RECEIVED, env, hs_now_ms());
    snprintf(wh.provider, sizeof(wh.provider), "%s", prov->name);
    rc = seal_request(in, conn, r, path, &wh);
    if (rc != HS_OK) {
        hs_webhook_free(&wh);
        return rc == HS_ERR_NOMEM ? MHD_NO
                                  : refuse(in, conn, r, prov->name,
                                           MHD_HTTP_BAD_REQUEST, "too_long",
                                           "The query is too long.");
    }
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK) {
        hs_webhook_free(&wh);
        return ingress_respond_unavailable(conn, r);
    }
    rc = hs_pg_begin(pg);
    if (rc == HS_OK)
        rc = publish(in, conn, pg, sig_hash, &wh);
    if (rc == HS_OK)
        rc = hs_pg_commit(pg) == HS_OK ? HS_OK : HS_ERR_TRANSIENT;
    else
        hs_pg_rollback(pg);
    hs_pg_pool_put(in->pool, pg);
    hs_webhook_free(&wh);
    if (rc == HS_ERR_CONFLICT)
        return refuse(in, conn, r, prov->name, MHD_HTTP_UNAUTHORIZED,
                      "replayed", "This request was received already.");
    if (rc != HS_OK) {
        hs_log(HS_LOG_ERROR, "webhook.publish_failed",
               HS_KV_STR("provider", prov->name),
               HS_KV_STR("reason", hs_strerror(rc)),
               HS_KV_STR("request_id", r->request_id));
        return rc == HS_ERR_UNRECORDED
                   ? ingress_respond_failed(conn, r, rc)
                   : ingress_respond_error(conn, r,
                                           MHD_HTTP_SERVICE_UNAVAILABLE,
                                           "unavailable",
                                           "The request could not be "
                                           "queued; send it again.");
    }
    count(prov->name, "queued");
    hs_log(HS_LOG_INFO, "webhook.received", HS_KV_STR("provider", prov->name),
           HS_KV_STR("env", env), HS_KV_STR("id", wh.id),
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_empty(conn, r, MHD_HTTP_OK);
}
