/*
 * ingress_api: the JSON routes of hs-ingress (see ingress_api.h).
 *
 *   POST /api/provider-auth-code  (Bearer) one-time code for a connect
 *   POST /api/agents              (Bearer) registers an X25519 key
 *   GET  /api/me                  (Bearer) the user and their providers
 *   GET  /api/providers/{p}/token (Bearer) the provider's access token
 *   DELETE /api/providers/{p}     (Bearer) disconnects the provider
 *
 * Bodies are JSON objects (duplicate keys refused). The database is
 * reached through the pool with a bounded wait; a database failure is a
 * 503 {"error":"unavailable"}. Codes are stored only as hashes (SECURITY
 * 27) and the code itself leaves only in the 201 body.
 */
#include "ingress_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_log.h"
#include "hs_outbox.h"

#define NAME_MAX_LEN 100 /* agent names */

/* Authenticates the caller. HS_OK fills user_id; otherwise the answer
 * (401 or 503) is already queued in *ret. */
static enum hs_err authenticate(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r, char user_id[32],
                                enum MHD_Result *ret)
{
    enum hs_err rc = ingress_bearer_user(in, conn, user_id, 32);

    if (rc == HS_ERR_TRANSIENT)
        *ret = ingress_respond_unavailable(conn, r);
    else if (rc != HS_OK)
        *ret = ingress_respond_error(conn, r, MHD_HTTP_UNAUTHORIZED,
                                     "unauthorized",
                                     "A valid API token is required "
                                     "(Authorization: Bearer).");
    return rc;
}

enum MHD_Result ingress_api_auth_code(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body = NULL, *aid;
    const char *agent_id = NULL;
    char user_id[32], code[48] = "", hash[44], user_code[10], ttl[16];
    const char *p[5] = {hash, user_id, NULL, user_code, ttl};
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    body = ingress_body_object(conn, r, 1, &ret);
    if (!body)
        return ret;
    aid = json_object_get(body, "agent_id");
    if (aid && !json_is_null(aid)) {
        agent_id = json_string_value(aid);
        if (!agent_id || strlen(agent_id) != HS_ID_LEN) {
            ret = ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                        "invalid_agent",
                                        "agent_id must be the id of one of "
                                        "your agents.");
            goto out;
        }
    }
    p[2] = agent_id;
    if (hs_random_token(32, code, sizeof(code)) != HS_OK)
        goto out;
    hs_sha256_b64url(code, strlen(code), hash);
    hs_user_code(code, user_code);
    snprintf(ttl, sizeof(ttl), "%d", in->cfg->code_ttl_s);
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK) {
        ret = ingress_respond_unavailable(conn, r);
        goto out;
    }
    /* The agent, when named, must be the caller's own. */
    rc = hs_pg_query(pg,
                     "INSERT INTO auth_codes (code_hash, user_id, agent_id, "
                     "user_code, expires_at) SELECT $1, $2, $3, $4, now() + "
                     "make_interval(secs => $5::int) WHERE $3::text IS NULL "
                     "OR EXISTS (SELECT 1 FROM agents WHERE id = $3 AND "
                     "user_id = $2)",
                     5, p, &res);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK) {
        ret = ingress_respond_unavailable(conn, r);
    } else if (strcmp(PQcmdTuples(res), "1") != 0) {
        ret = ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                    "invalid_agent",
                                    "No such agent for this account.");
    } else {
        ret = ingress_respond_json(conn, r, MHD_HTTP_CREATED,
                                   json_pack("{s:s,s:i,s:s}", "code", code,
                                             "expires_in",
                                             in->cfg->code_ttl_s,
                                             "user_code", user_code));
    }
    PQclear(res);
out:
    hs_wipe(code, sizeof(code));
    json_decref(body);
    return ret;
}

/* 1 to NAME_MAX_LEN bytes, no control characters. */
static int name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

enum MHD_Result ingress_api_agents(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body;
    const char *pk, *name;
    unsigned char raw[64];
    size_t n;
    char user_id[32], id[24];
    struct hs_pg *pg;
    enum hs_err rc;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    body = ingress_body_object(conn, r, 0, &ret);
    if (!body)
        return ret;
    pk = json_string_value(json_object_get(body, "public_key"));
    name = json_string_value(json_object_get(body, "name"));
    if (!pk || strlen(pk) != 43 ||
        hs_b64url_decode(pk, raw, sizeof(raw), &n) != HS_OK ||
        n != HS_BOX_PK_BYTES) {
        ret = ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                    "invalid_public_key",
                                    "public_key must be an X25519 key: 32 "
                                    "bytes, base64url.");
        goto out;
    }
    if (!name || !name_valid(name)) {
        ret = ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                    "invalid_name",
                                    "name must be 1 to 100 characters "
                                    "without control characters.");
        goto out;
    }
    if (hs_random_token(16, id, sizeof(id)) != HS_OK)
        goto out;
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK) {
        ret = ingress_respond_unavailable(conn, r);
        goto out;
    }
    {
        const char *p[4] = {id, user_id, name, pk};

        rc = hs_pg_query(pg,
                         "INSERT INTO agents (id, user_id, name, public_key) "
                         "VALUES ($1, $2, $3, $4)",
                         4, p, NULL);
    }
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK) {
        ret = ingress_respond_unavailable(conn, r);
        goto out;
    }
    hs_log(HS_LOG_INFO, "agent.registered", HS_KV_STR("agent_id", id),
           HS_KV_STR("user_id", user_id));
    ret = ingress_respond_json(conn, r, MHD_HTTP_CREATED,
                               json_pack("{s:s}", "agent_id", id));
out:
    json_decref(body);
    return ret;
}

/* Splits space-separated scopes into a JSON array (no strtok: the input
 * is const and may hold runs of spaces). */
static json_t *scope_array(const char *s)
{
    json_t *a = json_array();

    while (a && *s) {
        size_t n = strcspn(s, " ");

        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n;
        while (*s == ' ')
            s++;
    }
    return a;
}

enum MHD_Result ingress_api_me(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct ingress_req *r)
{
    enum MHD_Result ret = MHD_NO;
    char user_id[32];
    const char *p[1] = {user_id};
    struct hs_pg *pg;
    PGresult *u = NULL, *t = NULL;
    json_t *provs, *user;
    enum hs_err rc;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return ingress_respond_unavailable(conn, r);
    rc = hs_pg_query(pg, "SELECT id, coalesce(email, ''), coalesce(name, '')"
                         " FROM users WHERE id = $1", 1, p, &u);
    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "SELECT provider, status, scopes, coalesce((extract("
                         "epoch FROM expires_at) * 1000)::bigint, 0) FROM "
                         "provider_tokens WHERE user_id = $1 ORDER BY "
                         "provider",
                         1, p, &t);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK || PQntuples(u) != 1) {
        PQclear(u);
        PQclear(t);
        return ingress_respond_unavailable(conn, r);
    }
    user = json_pack("{s:s,s:s,s:s}", "id", PQgetvalue(u, 0, 0), "email",
                     PQgetvalue(u, 0, 1), "name", PQgetvalue(u, 0, 2));
    provs = json_array();
    for (int i = 0; provs && i < PQntuples(t); i++)
        json_array_append_new(
            provs,
            json_pack("{s:s,s:s,s:o,s:I}", "name", PQgetvalue(t, i, 0),
                      "status", PQgetvalue(t, i, 1), "scopes",
                      scope_array(PQgetvalue(t, i, 2)), "expires_at",
                      (json_int_t)strtoll(PQgetvalue(t, i, 3), NULL, 10)));
    PQclear(u);
    PQclear(t);
    return ingress_respond_json(conn, r, MHD_HTTP_OK,
                                json_pack("{s:o,s:o}", "user", user,
                                          "providers", provs));
}

/* A token this close to its expiry is not handed out (the caller could
 * not use it): 10 s, or a quarter of its lifetime when that is shorter. */
#define TOKEN_MIN_LIFE_S 10

static enum MHD_Result not_connected(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const char *provider)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "This account has no %s connection; "
                               "connect it first.", provider);
    return ingress_respond_error(conn, r, MHD_HTTP_NOT_FOUND,
                                 "not_connected", msg);
}

static enum MHD_Result reauth_required(struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const char *provider)
{
    char msg[200];

    snprintf(msg, sizeof(msg), "The %s connection needs you to sign in "
                               "again: connect %s once more.",
             provider, provider);
    return ingress_respond_error(conn, r, MHD_HTTP_CONFLICT,
                                 "reauth_required", msg);
}

enum MHD_Result ingress_api_provider_token(const struct ingress *in,
                                           struct MHD_Connection *conn,
                                           struct ingress_req *r,
                                           const char *provider)
{
    enum MHD_Result ret = MHD_NO;
    char user_id[32], min_life[8], *token = NULL;
    const char *p[3] = {user_id, provider, min_life};
    unsigned char *blob = NULL;
    size_t blen = 0;
    PGresult *res = NULL;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    snprintf(min_life, sizeof(min_life), "%d", TOKEN_MIN_LIFE_S);
    if (ingress_pg_query(in,
                         "SELECT access_enc, token_type, scopes, coalesce(("
                         "extract(epoch FROM expires_at) * 1000)::bigint, 0)"
                         ", status, refresh_at IS NOT NULL, expires_at < "
                         "now() + least(make_interval(secs => $3::int), "
                         "(expires_at - updated_at) / 4) FROM "
                         "provider_tokens WHERE user_id = $1 AND provider = "
                         "$2",
                         3, p, &res) != HS_OK)
        return ingress_respond_unavailable(conn, r);
    if (PQntuples(res) != 1) {
        ret = not_connected(conn, r, provider);
    } else if (strcmp(PQgetvalue(res, 0, 4), "active") != 0) {
        ret = reauth_required(conn, r, provider);
    } else if (strcmp(PQgetvalue(res, 0, 6), "t") == 0 &&
               strcmp(PQgetvalue(res, 0, 5), "t") != 0) {
        ret = reauth_required(conn, r, provider); /* expired for good */
    } else if (strcmp(PQgetvalue(res, 0, 6), "t") == 0) {
        PGresult *u = NULL;

        /* Ask for the refresh now, unless one is already backing off
         * after failures (the refresher's schedule stands then). */
        if (ingress_pg_query(in,
                             "UPDATE provider_tokens SET refresh_at = now() "
                             "WHERE user_id = $1 AND provider = $2 AND "
                             "status = 'active' AND attempts = 0 AND "
                             "refresh_at > now()",
                             2, p, &u) != HS_OK) {
            ret = ingress_respond_unavailable(conn, r);
        } else {
            ret = ingress_respond_json_header(
                conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                json_pack("{s:s,s:s}", "error", "refreshing", "message",
                          "The token is about to expire and is being "
                          "refreshed; try again in a few seconds."),
                "Retry-After", "2");
        }
        PQclear(u);
    } else if (hs_pg_bytea(res, 0, 0, &blob, &blen) != HS_OK ||
               !(token = malloc(blen + 1)) ||
               hs_token_open(in->kr, user_id, provider, "access", blob, blen,
                             token, blen + 1) != HS_OK) {
        hs_log(HS_LOG_ERROR, "api.token_unreadable",
               HS_KV_STR("user_id", user_id),
               HS_KV_STR("provider", provider));
        ret = ingress_respond_error(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal_error",
                                    "The stored token cannot be read.");
    } else {
        ret = ingress_respond_json(
            conn, r, MHD_HTTP_OK,
            json_pack("{s:s,s:s,s:I,s:s}", "access_token", token,
                      "token_type", PQgetvalue(res, 0, 1), "expires_at",
                      (json_int_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10),
                      "scopes", PQgetvalue(res, 0, 2)));
    }
    if (token) {
        hs_wipe(token, blen + 1);
        free(token);
    }
    free(blob);
    PQclear(res);
    return ret;
}

/* In one transaction: deletes the tokens, queues them for revocation when
 * the provider has a revoke_url, adds provider.disconnected to the outbox
 * and commits once that is recorded (HS_ERR_UNRECORDED when it was not:
 * nothing done). *found: whether there was a connection. */
static enum hs_err disconnect_txn(const struct ingress *in,
                                  struct MHD_Connection *conn,
                                  struct hs_pg *pg, const char *user_id,
                                  const char *provider, int *found)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    const char *p[3] = {user_id, provider,
                        prov && prov->revoke_url[0] ? "t" : "f"};
    struct hs_event ev;
    PGresult *res = NULL;
    enum hs_err rc = hs_pg_begin(pg);

    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "WITH d AS (DELETE FROM provider_tokens WHERE "
                         "user_id = $1 AND provider = $2 RETURNING "
                         "access_enc, refresh_enc), q AS (INSERT INTO "
                         "revocations (user_id, provider, access_enc, "
                         "refresh_enc) SELECT $1, $2, access_enc, "
                         "refresh_enc FROM d WHERE $3::boolean) SELECT "
                         "count(*) FROM d",
                         3, p, &res);
    *found = rc == HS_OK && strcmp(PQgetvalue(res, 0, 0), "0") != 0;
    PQclear(res);
    if (rc == HS_OK && *found) {
        hs_event_init(&ev, HS_EV_PROVIDER_DISCONNECTED, in->cfg->env,
                      hs_now_ms());
        snprintf(ev.user_id, sizeof(ev.user_id), "%s", user_id);
        snprintf(ev.provider, sizeof(ev.provider), "%s", provider);
        rc = hs_outbox_add_event(pg, HS_TOPIC_TOKENS, user_id, &ev);
    }
    if (rc == HS_OK && *found) {
        struct hs_audit_step s = {.action = "provider.disconnected",
                                  .outcome = "ok", .user_id = user_id,
                                  .provider = provider};

        return ingress_txn_finish(in, conn, pg, &s);
    }
    hs_pg_rollback(pg);
    return rc;
}

enum MHD_Result ingress_api_disconnect(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const char *provider)
{
    enum MHD_Result ret = MHD_NO;
    char user_id[32];
    struct hs_pg *pg;
    int found = 0;
    enum hs_err rc;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return ingress_respond_unavailable(conn, r);
    rc = disconnect_txn(in, conn, pg, user_id, provider, &found);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK)
        return ingress_respond_failed(conn, r, rc);
    if (!found)
        return not_connected(conn, r, provider);
    hs_log(HS_LOG_INFO, "provider.disconnected", HS_KV_STR("user_id", user_id),
           HS_KV_STR("provider", provider));
    return ingress_respond_empty(conn, r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result ingress_api_token_revoke(const struct ingress *in,
                                         struct MHD_Connection *conn,
                                         struct ingress_req *r)
{
    const char *auth = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    enum MHD_Result ret = MHD_NO;
    char user_id[32], hash[44];
    const char *p[1] = {hash};
    PGresult *res = NULL;
    struct hs_pg *pg;
    enum hs_err rc;

    if (authenticate(in, conn, r, user_id, &ret) != HS_OK)
        return ret;
    auth += 7; /* "Bearer ", checked by authenticate */
    hs_sha256_b64url(auth, strlen(auth), hash);
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return ingress_respond_unavailable(conn, r);
    rc = hs_pg_begin(pg);
    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "UPDATE api_tokens SET revoked_at = now() WHERE "
                         "token_hash = $1 AND revoked_at IS NULL RETURNING 1",
                         1, p, &res);
    if (rc == HS_OK && PQntuples(res) == 1) {
        struct hs_audit_step s = {.action = "api_token.revoked",
                                  .outcome = "ok", .user_id = user_id,
                                  .token = auth};

        rc = ingress_txn_finish(in, conn, pg, &s);
    } else {
        /* Revoked by a concurrent request meanwhile: that one answered. */
        hs_pg_rollback(pg);
        rc = rc == HS_OK ? HS_ERR_CONFLICT : HS_ERR_TRANSIENT;
    }
    PQclear(res);
    hs_pg_pool_put(in->pool, pg);
    if (rc == HS_ERR_CONFLICT)
        return ingress_respond_error(conn, r, MHD_HTTP_UNAUTHORIZED,
                                     "unauthorized",
                                     "This API token was revoked already.");
    if (rc != HS_OK)
        return ingress_respond_failed(conn, r, rc);
    hs_log(HS_LOG_INFO, "api_token.revoked", HS_KV_STR("user_id", user_id),
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_empty(conn, r, MHD_HTTP_NO_CONTENT);
}
