/* exchange_signin: identity of a sign-in (contract in exchange_signin.h). */
#include "exchange_signin.h"

#include <stdio.h>
#include <string.h>

#include "hs_http.h"
#include "hs_log.h"

#define USERINFO_MAX_BODY (64 * 1024)

/* GET userinfo with the access token; parses into *id. */
static enum hs_err userinfo(const struct hs_worker *w,
                            const struct hs_provider *prov,
                            const struct exchange_token *tok,
                            const char *issuer, const char *expect_sub,
                            struct exchange_identity *id)
{
    struct hs_http_request req;
    struct hs_http_response res;
    char why[64] = "";
    enum hs_err rc;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = prov->userinfo_url;
    req.bearer = tok->access_token;
    req.accept = "application/json";
    req.timeout_ms = w->cfg->http_timeout_ms;
    req.max_body = USERINFO_MAX_BODY;
    req.allow_http = w->cfg->insecure_http;
    rc = hs_http_do(&req, &res);
    if (rc != HS_OK)
        return rc;
    if (res.status != 200)
        rc = HS_ERR_PROVIDER;
    else
        rc = exchange_userinfo_parse(res.body, res.len, issuer, expect_sub,
                                     id, why, sizeof(why));
    hs_http_response_cleanup(&res);
    if (rc != HS_OK)
        hs_log(HS_LOG_WARN, "exchange.userinfo_refused",
               HS_KV_STR("provider", prov->name),
               HS_KV_STR("reason", why[0] ? why : hs_strerror(rc)));
    return rc;
}

enum hs_err exchange_identify(const struct hs_worker *w,
                              const struct hs_provider *prov,
                              const struct exchange_token *tok,
                              const char *nonce,
                              struct exchange_identity *id,
                              const char **error)
{
    char why[64] = "", issuer[256];

    memset(id, 0, sizeof(*id));
    if (prov->issuer[0]) {
        enum hs_err rc;

        if (!tok->id_token[0]) {
            *error = "invalid_id_token";
            hs_log(HS_LOG_WARN, "exchange.id_token_refused",
                   HS_KV_STR("provider", prov->name),
                   HS_KV_STR("reason", "missing"));
            return HS_ERR_DENIED;
        }
        rc = exchange_idtoken_check(tok->id_token, prov->issuer,
                                    prov->client_id, nonce,
                                    hs_now_ms() / 1000, id, why, sizeof(why));
        if (rc != HS_OK) {
            *error = "invalid_id_token";
            hs_log(HS_LOG_WARN, "exchange.id_token_refused",
                   HS_KV_STR("provider", prov->name),
                   HS_KV_STR("reason", why));
            return rc;
        }
        if (!id->email[0] && prov->userinfo_url[0]) {
            struct exchange_identity more;

            if (userinfo(w, prov, tok, prov->issuer, id->subject, &more) !=
                HS_OK) {
                *error = "userinfo_failed";
                return HS_ERR_PROVIDER;
            }
            memcpy(id->email, more.email, sizeof(id->email));
            if (!id->name[0])
                memcpy(id->name, more.name, sizeof(id->name));
        }
        return HS_OK;
    }
    if (!prov->userinfo_url[0]) {
        *error = "no_identity";
        return HS_ERR_CONFIG;
    }
    snprintf(issuer, sizeof(issuer), "oauth:%s", prov->name);
    if (userinfo(w, prov, tok, issuer, NULL, id) != HS_OK) {
        *error = "userinfo_failed";
        return HS_ERR_PROVIDER;
    }
    return HS_OK;
}

enum hs_err exchange_user_upsert(struct hs_pg *pg,
                                 const struct exchange_identity *id,
                                 char *user_id)
{
    char fresh[32];
    const char *p[5] = {fresh, id->issuer, id->subject,
                        id->email[0] ? id->email : NULL,
                        id->name[0] ? id->name : NULL};
    PGresult *res = NULL;
    enum hs_err rc;

    if (hs_random_token(16, fresh, sizeof(fresh)) != HS_OK)
        return HS_ERR_INTERNAL;
    rc = hs_pg_query(pg,
                     "INSERT INTO users (id, issuer, subject, email, name) "
                     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, "
                     "subject) DO UPDATE SET email = coalesce(EXCLUDED.email,"
                     " users.email), name = coalesce(EXCLUDED.name, "
                     "users.name) RETURNING id",
                     5, p, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return HS_ERR_INTERNAL;
    }
    snprintf(user_id, 32, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return HS_OK;
}
