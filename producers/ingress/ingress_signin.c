/* ingress_signin: sign-in flows in the browser (see ingress_signin.h). */
#include "ingress_signin.h"

#include <stdio.h>
#include <string.h>

#include "hs_log.h"
#include "hs_state.h"
#include "ingress_connect.h"

static const char *const transit_params[] = {"token", NULL};


/* Runs one statement with params p; HS_OK when it returned a row (first
 * column copied to out when out is not NULL), HS_ERR_NOTFOUND when none. */
static enum hs_err one_row(struct hs_pg *pg, const char *sql, int n,
                           const char *const *p, char *out, size_t cap)
{
    PGresult *res = NULL;
    enum hs_err rc = hs_pg_query(pg, sql, n, p, &res);

    if (rc != HS_OK)
        return rc;
    rc = PQntuples(res) == 1 ? HS_OK : HS_ERR_NOTFOUND;
    if (rc == HS_OK && out)
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* In the caller's transaction: the handshake row of a sign-in flow. */
static enum hs_err insert_handshake(struct hs_pg *pg, const struct hs_state *st,
                                    const char *bind_hash, int ttl_s)
{
    char ttl[16];
    const char *p[6] = {st->handshake_id, hs_flow_name(st->flow),
                        st->provider, st->subject, bind_hash, ttl};

    snprintf(ttl, sizeof(ttl), "%d", ttl_s);
    return hs_pg_query(pg,
                       "INSERT INTO handshakes (id, flow, provider, subject, "
                       "binding_hash, expires_at) VALUES ($1, $2, $3, $4, "
                       "$5, now() + make_interval(secs => $6::int))",
                       6, p, NULL);
}

/* Binds the poll found by sql (params: handle, handshake id; returns the
 * key hash) to a new handshake, in the transaction open on pg. */
static enum hs_err bind_poll(const struct ingress *in, struct hs_pg *pg,
                             const char *pre, const char *sql,
                             const char *handle, const char *bind_hash,
                             struct hs_state *st)
{
    const char *p[2] = {handle, st->handshake_id};
    enum hs_err rc = HS_OK;

    if (pre)
        rc = hs_pg_query(pg, pre, 1, p, NULL);
    if (rc == HS_OK)
        rc = one_row(pg, sql, 2, p, st->subject, sizeof(st->subject));
    if (rc == HS_OK)
        rc = insert_handshake(pg, st, bind_hash, in->cfg->state_ttl_s);
    return rc;
}

/* The confirmation page of a sign-in flow (GET). */
static enum MHD_Result signin_page(const struct ingress *in,
                                   struct MHD_Connection *conn,
                                   struct ingress_req *r,
                                   const struct hs_provider *prov,
                                   const char *code, const char *action,
                                   const char *handle)
{
    char bind[44], pname[32], title[64], button[64], intro[400];

    if (ingress_binding_ensure(in, conn, r, bind) != 0)
        return MHD_NO;
    ingress_provider_display(prov->name, pname, sizeof(pname));
    snprintf(title, sizeof(title), "Sign in with %s?", pname);
    snprintf(button, sizeof(button), "Continue to %s", pname);
    snprintf(intro, sizeof(intro),
             "<p>An app is asking to sign you in to handshake with "
             "<b>%s</b>. It will receive an API token for your account.</p>",
             pname);
    return ingress_confirm_page(in, conn, r, title, intro, code, action,
                                handle, bind, button,
                                "nobody will be signed in.", prov);
}

/* ---- signup ------------------------------------------------------------- */

static enum hs_err signup_insert(const struct ingress *in, struct hs_pg *pg,
                                 const char *handle, const char *bind_hash,
                                 struct hs_state *st)
{
    /* The agent may not have polled yet: the row starts here then. */
    return bind_poll(
        in, pg,
        "INSERT INTO polls (key_hash, kind, expires_at) VALUES ($1, "
        "'signup', now() + interval '10 minutes') ON CONFLICT DO NOTHING",
        "UPDATE polls SET handshake_id = $2 WHERE key_hash = $1 AND kind = "
        "'signup' AND handshake_id IS NULL AND status = 'pending' AND "
        "expires_at > now() RETURNING key_hash",
        handle, bind_hash, st);
}

/* HS_OK when the signup can still start (no row yet, or a pending row
 * that no browser took); HS_ERR_NOTFOUND when it cannot. */
static enum hs_err signup_open(const struct ingress *in, const char *key)
{
    const char *p[1] = {key};
    struct hs_pg *pg;
    enum hs_err rc;

    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return HS_ERR_TRANSIENT;
    rc = one_row(pg,
                 "SELECT 1 FROM polls WHERE key_hash = $1 AND NOT (kind = "
                 "'signup' AND handshake_id IS NULL AND status = 'pending' "
                 "AND expires_at > now())",
                 1, p, NULL, 0);
    hs_pg_pool_put(in->pool, pg);
    if (rc == HS_OK)
        return HS_ERR_NOTFOUND; /* taken, finished or expired */
    return rc == HS_ERR_NOTFOUND ? HS_OK : rc;
}

static enum MHD_Result not_signin(struct MHD_Connection *conn,
                                  struct ingress_req *r)
{
    return ingress_respond_text(conn, r, MHD_HTTP_BAD_REQUEST,
                                "Not a sign-in provider",
                                "This provider cannot be used to sign in "
                                "here. Start again from your editor.");
}

enum MHD_Result ingress_signin_signup(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const struct hs_provider *prov,
                                      const char *signup_id, int is_post)
{
    char bind[44], code[10], action[200];
    enum hs_err rc;

    if (!prov->signin)
        return not_signin(conn, r);
    if (!hs_b64url_is32(signup_id))
        return ingress_invalid_link(conn, r, "malformed_signup_id");
    rc = signup_open(in, signup_id);
    if (rc == HS_ERR_NOTFOUND)
        return ingress_invalid_link(conn, r, "signup_used");
    if (rc != HS_OK)
        return ingress_unavailable_page(conn, r);
    if (is_post) {
        if (!ingress_confirmed(in, conn, r, signup_id, bind))
            return ingress_csrf_refused(conn, r);
        return ingress_flow_launch(in, conn, r, prov, HS_FLOW_SIGNUP,
                                   signup_id, bind, signup_insert);
    }
    /* signup_id is base64url (checked): safe in a URL and in HTML. The
     * action is relative: the form posts back to the path it came from
     * (/web/provider-auth/{p} or its /integration/{p}/login alias). */
    snprintf(action, sizeof(action), "?signup_id=%s", signup_id);
    hs_user_code(signup_id, code);
    return signin_page(in, conn, r, prov, code, action, signup_id);
}

/* ---- session transit ---------------------------------------------------- */

static enum hs_err transit_insert(const struct ingress *in, struct hs_pg *pg,
                                  const char *handle, const char *bind_hash,
                                  struct hs_state *st)
{
    char thash[44];

    hs_sha256_b64url(handle, strlen(handle), thash);
    return bind_poll(
        in, pg, NULL,
        "UPDATE polls SET handshake_id = $2 WHERE transit_hash = $1 AND "
        "kind = 'session' AND handshake_id IS NULL AND status = 'pending' "
        "AND transit_expires_at > now() AND expires_at > now() "
        "RETURNING key_hash",
        thash, bind_hash, st);
}

enum MHD_Result ingress_signin_transit(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r, int is_post)
{
    const struct hs_provider *prov =
        hs_catalog_find(in->cat, in->cfg->signin_provider);
    const char *token, *why = "malformed_query";
    char bind[44], thash[44], code[16] = "", action[200];
    const char *p[1] = {thash};
    struct hs_pg *pg;
    enum hs_err rc;

    if (!prov || !prov->signin)
        return ingress_respond_text(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                    "Sign-in unavailable",
                                    "This server has no sign-in provider.");
    if (r->too_many_params ||
        ingress_query_verify(r->params, r->nparams, transit_params, &why) !=
            HS_OK)
        return ingress_invalid_link(conn, r, why);
    token = ingress_param_get(r->params, r->nparams, "token");
    if (!hs_b64url_is32(token))
        return ingress_invalid_link(conn, r, "malformed_transit");
    hs_sha256_b64url(token, strlen(token), thash);
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        return ingress_unavailable_page(conn, r);
    rc = one_row(pg,
                 "SELECT user_code FROM polls WHERE transit_hash = $1 AND "
                 "kind = 'session' AND handshake_id IS NULL AND status = "
                 "'pending' AND transit_expires_at > now() AND expires_at > "
                 "now()",
                 1, p, code, sizeof(code));
    hs_pg_pool_put(in->pool, pg);
    if (rc == HS_ERR_NOTFOUND)
        return ingress_invalid_link(conn, r, "transit_used");
    if (rc != HS_OK)
        return ingress_unavailable_page(conn, r);
    if (is_post) {
        if (!ingress_confirmed(in, conn, r, token, bind))
            return ingress_csrf_refused(conn, r);
        return ingress_flow_launch(in, conn, r, prov, HS_FLOW_SESSION, token,
                                   bind, transit_insert);
    }
    snprintf(action, sizeof(action), "/addons/transit/?token=%s", token);
    return signin_page(in, conn, r, prov, code, action, token);
}
