/*
 * ingress_api: the JSON routes of hs-ingress and the probes.
 *
 *   POST /api/provider-auth-code  (Bearer) one-time code for a connect
 *   POST /api/agents              (Bearer) registers an X25519 key
 *   GET  /api/me                  (Bearer) the user and their providers
 *   GET  /healthz, /readyz
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"

static enum MHD_Result unavailable(struct MHD_Connection *conn,
                                   struct ingress_req *r)
{
    return ingress_respond_error(conn, r, 503, "unavailable",
                                 "The database is unavailable; try again.");
}

/* Parses the JSON body: an object, or NULL with an error already queued
 * in *ret. An empty body is an empty object when empty_ok. */
static json_t *body_object(struct MHD_Connection *conn, struct ingress_req *r,
                           int empty_ok, enum MHD_Result *ret)
{
    json_t *o;

    if (r->body_len == 0 && empty_ok)
        return json_object();
    o = r->body ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES,
                             NULL)
                : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        *ret = ingress_respond_error(conn, r, 400, "invalid_json",
                                     "The body must be a JSON object.");
        return NULL;
    }
    return o;
}

static enum MHD_Result provider_auth_code(struct ingress *in,
                                          struct MHD_Connection *conn,
                                          struct ingress_req *r,
                                          const char *user_id)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body = body_object(conn, r, 1, &ret);
    const char *agent_id;
    char code[48], hash[44], user_code[10], ttl[16];
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;

    if (!body)
        return ret;
    agent_id = json_string_value(json_object_get(body, "agent_id"));
    if (json_object_get(body, "agent_id") && (!agent_id || strlen(agent_id) >= 32)) {
        json_decref(body);
        return ingress_respond_error(conn, r, 400, "invalid_agent",
                                     "agent_id must be a string.");
    }
    if (hs_random_token(32, code, sizeof(code)) != HS_OK) {
        json_decref(body);
        return MHD_NO;
    }
    hs_sha256_b64url(code, strlen(code), hash);
    hs_user_code(code, user_code);
    snprintf(ttl, sizeof(ttl), "%d", in->cfg->code_ttl_s);
    if (hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK) {
        json_decref(body);
        return unavailable(conn, r);
    }
    {
        /* The agent, when named, must be the caller's own. */
        const char *p[5] = {hash, user_id, agent_id, user_code, ttl};

        rc = hs_pg_query(pg,
                         "INSERT INTO auth_codes (code_hash, user_id, "
                         "agent_id, user_code, expires_at) SELECT $1, $2, $3,"
                         " $4, now() + make_interval(secs => $5::int) WHERE "
                         "$3::text IS NULL OR EXISTS (SELECT 1 FROM agents "
                         "WHERE id = $3 AND user_id = $2)",
                         5, p, &res);
    }
    hs_pg_pool_put(in->pool, pg);
    json_decref(body);
    if (rc != HS_OK) {
        PQclear(res);
        return unavailable(conn, r);
    }
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        PQclear(res);
        return ingress_respond_error(conn, r, 400, "invalid_agent",
                                     "No such agent for this account.");
    }
    PQclear(res);
    ret = ingress_respond_json(conn, r, 201,
                               json_pack("{s:s,s:i,s:s}", "code", code,
                                         "expires_in", in->cfg->code_ttl_s,
                                         "user_code", user_code));
    hs_wipe(code, sizeof(code));
    return ret;
}

static int name_printable(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 100)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static enum MHD_Result register_agent(struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const char *user_id)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body = body_object(conn, r, 0, &ret);
    const char *pk, *name;
    unsigned char raw[64];
    size_t n;
    char id[24];
    struct hs_pg *pg;
    enum hs_err rc;

    if (!body)
        return ret;
    pk = json_string_value(json_object_get(body, "public_key"));
    name = json_string_value(json_object_get(body, "name"));
    if (!pk || hs_b64url_decode(pk, raw, sizeof(raw), &n) != HS_OK ||
        n != HS_BOX_PK_BYTES) {
        json_decref(body);
        return ingress_respond_error(conn, r, 400, "invalid_public_key",
                                     "public_key must be an X25519 key: 32 "
                                     "bytes, base64url.");
    }
    if (!name || !name_printable(name)) {
        json_decref(body);
        return ingress_respond_error(conn, r, 400, "invalid_name",
                                     "name must be 1 to 100 printable "
                                     "characters.");
    }
    if (hs_random_token(16, id, sizeof(id)) != HS_OK ||
        hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK) {
        json_decref(body);
        return unavailable(conn, r);
    }
    {
        const char *p[4] = {id, user_id, name, pk};

        rc = hs_pg_query(pg,
                         "INSERT INTO agents (id, user_id, name, public_key) "
                         "VALUES ($1, $2, $3, $4)",
                         4, p, NULL);
    }
    hs_pg_pool_put(in->pool, pg);
    json_decref(body);
    if (rc != HS_OK)
        return unavailable(conn, r);
    hs_log(HS_LOG_INFO, "agent.registered", HS_KV_STR("agent_id", id),
           HS_KV_STR("user_id", user_id));
    return ingress_respond_json(conn, r, 201,
                                json_pack("{s:s}", "agent_id", id));
}

static enum MHD_Result me(struct ingress *in, struct MHD_Connection *conn,
                          struct ingress_req *r, const char *user_id)
{
    const char *p[1] = {user_id};
    struct hs_pg *pg;
    PGresult *u = NULL, *t = NULL;
    json_t *provs, *user;
    enum hs_err rc;

    if (hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK)
        return unavailable(conn, r);
    rc = hs_pg_query(pg, "SELECT id, coalesce(email, ''), coalesce(name, '')"
                         " FROM users WHERE id = $1", 1, p, &u);
    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "SELECT provider, status, scopes, coalesce((extract("
                         "epoch FROM expires_at) * 1000)::bigint, 0) FROM "
                         "provider_tokens WHERE user_id = $1 ORDER BY provider",
                         1, p, &t);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK || PQntuples(u) != 1) {
        PQclear(u);
        PQclear(t);
        return unavailable(conn, r);
    }
    user = json_pack("{s:s,s:s,s:s}", "id", PQgetvalue(u, 0, 0), "email",
                     PQgetvalue(u, 0, 1), "name", PQgetvalue(u, 0, 2));
    provs = json_array();
    for (int i = 0; i < PQntuples(t); i++) {
        json_t *scopes = json_array();
        char buf[512], *save = NULL, *tok;

        snprintf(buf, sizeof(buf), "%s", PQgetvalue(t, i, 2));
        for (tok = strtok_r(buf, " ", &save); tok;
             tok = strtok_r(NULL, " ", &save))
            json_array_append_new(scopes, json_string(tok));
        json_array_append_new(
            provs, json_pack("{s:s,s:s,s:o,s:I}", "name", PQgetvalue(t, i, 0),
                             "status", PQgetvalue(t, i, 1), "scopes", scopes,
                             "expires_at",
                             (json_int_t)strtoll(PQgetvalue(t, i, 3), NULL,
                                                 10)));
    }
    PQclear(u);
    PQclear(t);
    return ingress_respond_json(conn, r, 200,
                                json_pack("{s:o,s:o}", "user", user,
                                          "providers", provs));
}

static enum MHD_Result readyz(struct ingress *in, struct MHD_Connection *conn,
                              struct ingress_req *r)
{
    struct hs_pg *pg;
    int pg_ok = 0, kafka_ok;

    if (hs_pg_pool_get(in->pool, 1000, &pg) == HS_OK) {
        pg_ok = hs_pg_ping(pg);
        hs_pg_pool_put(in->pool, pg);
    }
    kafka_ok = hs_kafka_producer_ping(in->producer, 2000);
    return ingress_respond_json(
        conn, r, pg_ok && kafka_ok ? 200 : 503,
        json_pack("{s:s,s:s,s:s}", "status",
                  pg_ok && kafka_ok ? "ready" : "not_ready", "kafka",
                  kafka_ok ? "ok" : "unreachable", "postgres",
                  pg_ok ? "ok" : "unreachable"));
}

enum MHD_Result ingress_api(struct ingress *in, struct MHD_Connection *conn,
                            struct ingress_req *r, const char *method,
                            const char *url)
{
    char user_id[32];
    enum hs_err rc;
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

    if (strcmp(url, "/healthz") == 0) {
        r->route = "/healthz";
        return ingress_respond_json(conn, r, 200,
                                    json_pack("{s:s}", "status", "ok"));
    }
    if (strcmp(url, "/readyz") == 0) {
        r->route = "/readyz";
        return readyz(in, conn, r);
    }
    if (strcmp(url, "/api/provider-auth-code") == 0)
        r->route = "/api/provider-auth-code";
    else if (strcmp(url, "/api/agents") == 0)
        r->route = "/api/agents";
    else if (strcmp(url, "/api/me") == 0)
        r->route = "/api/me";
    else
        return ingress_respond_error(conn, r, 404, "not_found",
                                     "There is no such route.");
    rc = ingress_bearer_user(in, conn, user_id, sizeof(user_id));
    if (rc == HS_ERR_TRANSIENT)
        return unavailable(conn, r);
    if (rc != HS_OK)
        return ingress_respond_error(conn, r, 401, "unauthorized",
                                     "A valid API token is required "
                                     "(Authorization: Bearer).");
    if (strcmp(r->route, "/api/provider-auth-code") == 0 && post)
        return provider_auth_code(in, conn, r, user_id);
    if (strcmp(r->route, "/api/agents") == 0 && post)
        return register_agent(in, conn, r, user_id);
    if (strcmp(r->route, "/api/me") == 0 && get)
        return me(in, conn, r, user_id);
    return ingress_respond_error(conn, r, 405, "method_not_allowed",
                                 "This route does not take that method.");
}
