/*
 * ingress_api: the JSON routes of hs-ingress (see ingress_api.h).
 *
 *   POST /api/provider-auth-code  (Bearer) one-time code for a connect
 *   POST /api/agents              (Bearer) registers an X25519 key
 *   GET  /api/me                  (Bearer) the user and their providers
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

#include "hs_log.h"

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
