/*
 * ingress_connect: the browser starts a connect (see ingress_connect.h).
 *
 * Remote phishing (SECURITY 13): the provider-auth code comes from the
 * agent of the account that will receive the token, so before the browser
 * leaves for the provider a first-party page names that account, the
 * agent and the short code the agent shows, and asks for a POST carrying
 * a CSRF token bound to this browser. A browser that confirmed for the
 * same account in the last 30 days (signed remember cookie, bound to the
 * binding cookie) goes straight on.
 */
#include "ingress_connect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_http.h"
#include "hs_log.h"
#include "hs_state.h"
#include "ingress_loopback.h"
#include "ingress_signin.h"

static const char *const provider_auth_params[] = {
    "code", "signup_id", "request_from", "port", NULL};

/* ---- CSRF and remember cookie (pure) ------------------------------------ */

/* Writes "csrf|<bind>|<code>" to msg; -1 when it does not fit. */
static int csrf_message(const char *bind, const char *code, char *msg,
                        size_t cap)
{
    int n = snprintf(msg, cap, "csrf|%s|%s", bind, code);

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

enum hs_err ingress_csrf_make(const struct hs_keyring *kr, const char *bind,
                              const char *code, char out[44])
{
    char msg[INGRESS_PARAM_MAX + 64];
    unsigned char mac[32];
    int n = csrf_message(bind, code, msg, sizeof(msg));
    enum hs_err rc;

    if (n < 0)
        return HS_ERR_TOOBIG;
    hs_mac(kr, HS_KEY_COOKIE, msg, (size_t)n, mac);
    rc = hs_b64url_encode(mac, sizeof(mac), out, 44);
    hs_wipe(msg, sizeof(msg));
    return rc;
}

enum hs_err ingress_csrf_verify(const struct hs_keyring *kr, const char *bind,
                                const char *code, const char *given)
{
    char msg[INGRESS_PARAM_MAX + 64];
    unsigned char mac[32];
    size_t n;
    int len, ok;

    if (!bind || !code || !given || strlen(given) != 43 ||
        hs_b64url_decode(given, mac, sizeof(mac), &n) != HS_OK || n != 32)
        return HS_ERR_DENIED;
    len = csrf_message(bind, code, msg, sizeof(msg));
    if (len < 0)
        return HS_ERR_DENIED;
    ok = hs_mac_verify(kr, HS_KEY_COOKIE, msg, (size_t)len, mac);
    hs_wipe(msg, sizeof(msg));
    return ok ? HS_OK : HS_ERR_DENIED;
}

/* mac = hs_mac(HS_KEY_COOKIE, "remember|user|expiry|SHA256(bind)"). */
static int remember_mac(const struct hs_keyring *kr, const char *user_id,
                        long long expiry, const char *bind,
                        unsigned char mac[32])
{
    char msg[256], bh[44];
    int n;

    hs_sha256_b64url(bind, strlen(bind), bh);
    n = snprintf(msg, sizeof(msg), "remember|%s|%lld|%s", user_id, expiry,
                 bh);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return -1;
    hs_mac(kr, HS_KEY_COOKIE, msg, (size_t)n, mac);
    return 0;
}

enum hs_err ingress_remember_make(const struct hs_keyring *kr,
                                  const char *user_id, int64_t expiry_ms,
                                  const char *bind, char *out, size_t cap)
{
    unsigned char mac[32];
    char mac64[44];
    int n;

    if (remember_mac(kr, user_id, (long long)expiry_ms, bind, mac) != 0 ||
        hs_b64url_encode(mac, sizeof(mac), mac64, sizeof(mac64)) != HS_OK)
        return HS_ERR_TOOBIG;
    n = snprintf(out, cap, "%s.%lld.%s", user_id, (long long)expiry_ms, mac64);
    return n < 0 || (size_t)n >= cap ? HS_ERR_TOOBIG : HS_OK;
}

enum hs_err ingress_remember_verify(const struct hs_keyring *kr,
                                    const char *value, const char *bind,
                                    const char *user_id, int64_t now_ms)
{
    char val[200], *d1, *d2, *end;
    unsigned char want[32], got[32];
    size_t n;
    long long expiry;
    int n2 = value ? snprintf(val, sizeof(val), "%s", value) : -1;

    if (n2 < 0 || (size_t)n2 >= sizeof(val))
        return HS_ERR_DENIED;
    d1 = strchr(val, '.');
    d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || d2 == d1 + 1)
        return HS_ERR_DENIED;
    *d1 = *d2 = '\0';
    expiry = strtoll(d1 + 1, &end, 10);
    if (*end || strcmp(val, user_id) != 0 || strlen(d2 + 1) != 43 ||
        hs_b64url_decode(d2 + 1, got, sizeof(got), &n) != HS_OK || n != 32 ||
        remember_mac(kr, user_id, expiry, bind, want) != 0 ||
        !hs_memeq(want, got, sizeof(got)))
        return HS_ERR_DENIED;
    /* The MAC covers the expiry, so it is trusted only after the MAC. */
    return expiry < now_ms ? HS_ERR_EXPIRED : HS_OK;
}

/* ---- the route ---------------------------------------------------------- */

enum MHD_Result ingress_invalid_link(struct MHD_Connection *conn,
                                     struct ingress_req *r, const char *reason)
{
    hs_log(HS_LOG_INFO, "connect.rejected", HS_KV_STR("reason", reason),
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_text(conn, r, MHD_HTTP_BAD_REQUEST,
                                "This link is not valid",
                                "This link is not valid any more: it was "
                                "already used, it expired or it is "
                                "malformed. Start again from your editor.");
}

enum MHD_Result ingress_unavailable_page(struct MHD_Connection *conn,
                                         struct ingress_req *r)
{
    return ingress_respond_text(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "Temporarily unavailable",
                                "We cannot reach our database or write "
                                "our audit trail right now, so nothing was "
                                "done. Please try again in a moment.");
}

struct code_info {
    char user_id[32];
    char user_code[16];
    char account[300]; /* email, else name, else id */
    char agent_name[200];
};

/* Looks up a live provider-auth code without consuming it.
 * HS_ERR_NOTFOUND for unknown, used or expired codes. */
static enum hs_err code_lookup(const struct ingress *in, const char *code,
                               struct code_info *ci)
{
    char hash[44];
    const char *params[1] = {hash};
    PGresult *res = NULL;
    enum hs_err rc;

    hs_sha256_b64url(code, strlen(code), hash);
    rc = ingress_pg_query(
        in,
        "SELECT a.user_id, a.user_code, "
        "coalesce(nullif(u.email, ''), nullif(u.name, ''), u.id), "
        "coalesce(g.name, '') "
        "FROM auth_codes a JOIN users u ON u.id = a.user_id "
        "LEFT JOIN agents g ON g.id = a.agent_id "
        "WHERE a.code_hash = $1 AND a.used_at IS NULL AND a.expires_at > now()",
        1, params, &res);
    if (rc != HS_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return HS_ERR_NOTFOUND;
    }
    snprintf(ci->user_id, sizeof(ci->user_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(ci->user_code, sizeof(ci->user_code), "%s",
             PQgetvalue(res, 0, 1));
    snprintf(ci->account, sizeof(ci->account), "%s", PQgetvalue(res, 0, 2));
    snprintf(ci->agent_name, sizeof(ci->agent_name), "%s",
             PQgetvalue(res, 0, 3));
    PQclear(res);
    return HS_OK;
}

/* The ingress_flow_insert of the connect flow: consumes the code and
 * inserts the handshake st->handshake_id in the caller's transaction, so a
 * failure (an unrecorded start too) leaves the code usable; writes the user
 * id to st->subject. HS_ERR_NOTFOUND when the code is gone. */
static enum hs_err handshake_insert(const struct ingress *in,
                                   struct hs_pg *pg, const char *code,
                                   const char *bind_hash,
                                   struct hs_state *st)
{
    char hash[44], ttl[16];
    const char *p[5] = {hash, st->handshake_id, st->provider, bind_hash,
                        ttl};
    PGresult *res = NULL;
    enum hs_err rc;

    hs_sha256_b64url(code, strlen(code), hash);
    snprintf(ttl, sizeof(ttl), "%d", in->cfg->state_ttl_s);
    /* One statement (one round trip): the start route is bound by them. */
    rc = hs_pg_query(pg,
                     "WITH c AS (UPDATE auth_codes SET used_at = now() "
                     "WHERE code_hash = $1 AND used_at IS NULL AND "
                     "expires_at > now() RETURNING user_id, agent_id) "
                     "INSERT INTO handshakes (id, flow, provider, user_id, "
                     "agent_id, binding_hash, expires_at) SELECT $2, "
                     "'connect', $3, c.user_id, c.agent_id, $4, now() + "
                     "make_interval(secs => $5::int) FROM c RETURNING "
                     "user_id",
                     5, p, &res);
    if (rc == HS_OK && PQntuples(res) != 1)
        rc = HS_ERR_NOTFOUND;
    if (rc == HS_OK)
        snprintf(st->subject, sizeof(st->subject), "%s",
                 PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* The provider's authorize URL for st (README step 3), in a new buffer
 * the caller frees; NULL when it cannot be built. */
static char *authorize_url(const struct hs_provider *prov,
                           const struct hs_state *st, const char *state,
                           const char *redirect_uri)
{
    char challenge[44], scope[sizeof(prov->scopes)];
    size_t cap, base;
    char *url;
    enum hs_err rc;
    int n;

    /* Scopes are stored space-separated; some providers want commas. */
    memcpy(scope, prov->scopes, sizeof(scope));
    for (char *c = scope; *c; c++)
        if (*c == ' ')
            *c = prov->scope_sep;
    hs_pkce_challenge(st->verifier, challenge);
    cap = strlen(prov->authorize_url) + 2 +
          3 * (strlen(state) + strlen(redirect_uri) + strlen(prov->scopes) +
               strlen(prov->client_id) + 2 * sizeof(challenge) +
               sizeof(prov->auth_params)) + 256;
    url = malloc(cap);
    if (!url)
        return NULL;
    n = snprintf(url, cap, "%s%c", prov->authorize_url,
                 strchr(prov->authorize_url, '?') ? '&' : '?');
    if (n < 0 || (size_t)n >= cap) {
        free(url);
        return NULL;
    }
    base = (size_t)n;
    url[base] = '\0';
    rc = hs_http_form_add(url + base, cap - base, "response_type", "code");
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base, "client_id",
                              prov->client_id);
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base, "redirect_uri",
                              redirect_uri);
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base, "scope", scope);
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base, "state", state);
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base, "code_challenge",
                              challenge);
    if (rc == HS_OK)
        rc = hs_http_form_add(url + base, cap - base,
                              "code_challenge_method", "S256");
    if (rc == HS_OK && prov->issuer[0])
        rc = hs_http_form_add(url + base, cap - base, "nonce", st->nonce);
    for (size_t i = 0; rc == HS_OK && i < prov->n_auth_params; i++)
        rc = hs_http_form_add(url + base, cap - base,
                              prov->auth_params[i].name,
                              prov->auth_params[i].value);
    if (rc != HS_OK) {
        free(url);
        return NULL;
    }
    return url;
}

/* Sets the remember cookie for this browser and account (best effort: a
 * browser that is not remembered is asked again, nothing worse). */
static void remember_set(const struct ingress *in, struct ingress_req *r,
                         const char *bind, const char *user_id, int64_t now)
{
    char name[40], value[200], cookie[256];
    int n;

    if (!ingress_cookie_name(in->https, "hs_remember", name, sizeof(name)) ||
        ingress_remember_make(in->kr, user_id, now + INGRESS_REMEMBER_MS,
                              bind, value, sizeof(value)) != HS_OK)
        return;
    n = snprintf(cookie, sizeof(cookie),
                 "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000%s",
                 name, value, in->https ? "; Secure" : "");
    if (n > 0 && (size_t)n < sizeof(cookie))
        (void)ingress_req_set_cookie(r, cookie);
}

/* A started flow waiting for its handshake.started record
 * (ingress_txn_answer): what its 302 needs. */
struct launch {
    char *url;
    enum hs_flow flow;
    char bind[44];
    char subject[sizeof(((struct hs_state *)0)->subject)];
    char handshake_id[sizeof(((struct hs_state *)0)->handshake_id)];
    char provider[sizeof(((struct hs_state *)0)->provider)];
    int64_t now;
};

static void launch_free(void *arg)
{
    struct launch *l = arg;

    free(l->url);
    free(l);
}

static enum MHD_Result launch_answer(const struct ingress *in,
                                     struct MHD_Connection *conn,
                                     struct ingress_req *r, enum hs_err rc,
                                     void *arg)
{
    const struct launch *l = arg;

    if (rc != HS_OK)
        return ingress_unavailable_page(conn, r);
    if (l->flow == HS_FLOW_CONNECT)
        remember_set(in, r, l->bind, l->subject, l->now);
    hs_log(HS_LOG_INFO, "handshake.started",
           HS_KV_STR("handshake_id", l->handshake_id),
           HS_KV_STR("provider", l->provider),
           HS_KV_STR("flow", hs_flow_name(l->flow)),
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_redirect(conn, r, l->url);
}

/* The 302 to the provider for st, in a new struct launch; NULL (logged)
 * when it cannot be built. */
static struct launch *launch_new(const struct ingress *in,
                                 struct ingress_req *r,
                                 const struct hs_provider *prov,
                                 const struct hs_state *st, const char *bind,
                                 int64_t now)
{
    char state[HS_STATE_MAX], redirect_uri[400];
    struct launch *l = calloc(1, sizeof(*l));
    enum hs_err rc = l ? hs_state_mint(in->kr, st, state, sizeof(state))
                       : HS_ERR_NOMEM;

    if (rc == HS_OK)
        rc = ingress_redirect_uri(in, r->route, prov->name, redirect_uri,
                                  sizeof(redirect_uri));
    if (rc == HS_OK && !(l->url = authorize_url(prov, st, state,
                                                redirect_uri)))
        rc = HS_ERR_TOOBIG;
    if (rc != HS_OK) {
        hs_log(HS_LOG_ERROR, "handshake.start_failed",
               HS_KV_STR("handshake_id", st->handshake_id),
               HS_KV_STR("reason", rc == HS_ERR_TOOBIG
                                       ? "authorize url too long"
                                       : hs_strerror(rc)));
        free(l);
        return NULL;
    }
    l->flow = st->flow;
    l->now = now;
    snprintf(l->bind, sizeof(l->bind), "%s", bind);
    snprintf(l->subject, sizeof(l->subject), "%s", st->subject);
    snprintf(l->handshake_id, sizeof(l->handshake_id), "%s",
             st->handshake_id);
    snprintf(l->provider, sizeof(l->provider), "%s", st->provider);
    return l;
}

enum MHD_Result ingress_flow_launch(const struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r,
                                    const struct hs_provider *prov,
                                    enum hs_flow flow, const char *handle,
                                    const char *bind, ingress_flow_insert fn)
{
    struct hs_state st;
    char bind_hash[44];
    struct launch *l = NULL;
    struct hs_pg *pg = NULL;
    enum hs_err rc;

    memset(&st, 0, sizeof(st));
    snprintf(st.env, sizeof(st.env), "%s", in->cfg->env);
    snprintf(st.provider, sizeof(st.provider), "%s", prov->name);
    st.flow = flow;
    st.issued_ms = hs_now_ms();
    hs_sha256(bind, strlen(bind), st.binding);
    hs_sha256_b64url(bind, strlen(bind), bind_hash);
    if (hs_random_token(16, st.handshake_id, sizeof(st.handshake_id)) ||
        hs_random_token(32, st.verifier, sizeof(st.verifier)) ||
        hs_random_token(16, st.nonce, sizeof(st.nonce)))
        return MHD_NO;
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK)
        rc = HS_ERR_TRANSIENT;
    else if ((rc = hs_pg_begin(pg)) == HS_OK &&
             (rc = fn(in, pg, handle, bind_hash, &st)) != HS_OK)
        hs_pg_rollback(pg);
    if (rc == HS_OK && !(l = launch_new(in, r, prov, &st, bind,
                                        st.issued_ms))) {
        hs_pg_rollback(pg);
        hs_pg_pool_put(in->pool, pg);
        hs_wipe(&st, sizeof(st));
        return ingress_respond_text(conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                    "Something went wrong",
                                    "We could not start this sign-in. Start "
                                    "again from your editor.");
    }
    hs_wipe(st.verifier, sizeof(st.verifier)); /* sealed in the state */
    if (rc == HS_OK) {
        /* Held: the handle is consumed and the browser sent to the
         * provider only once recorded; the thread serves others while the
         * record is acknowledged. */
        struct hs_audit_step s = {
            .action = "handshake.started", .outcome = "ok",
            .reason = hs_flow_name(flow), .handshake_id = st.handshake_id,
            .user_id = flow == HS_FLOW_CONNECT ? st.subject : NULL,
            .provider = prov->name};

        return ingress_txn_answer(in, conn, r, pg, &s, launch_answer, l,
                                  launch_free);
    }
    if (pg)
        hs_pg_pool_put(in->pool, pg);
    if (rc == HS_ERR_NOTFOUND)
        return ingress_invalid_link(conn, r, "handle_used");
    return ingress_unavailable_page(conn, r);
}

enum MHD_Result ingress_confirm_page(const struct ingress *in,
                                     struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const char *title, const char *intro,
                                     const char *user_code,
                                     const char *action, const char *handle,
                                     const char *bind, const char *button,
                                     const char *outro,
                                     const struct hs_provider *prov)
{
    char ucode[64], csrf[44];
    struct ingress_page pg;
    int n;

    (void)ingress_html_escape(user_code, ucode, sizeof(ucode));
    if (ingress_csrf_make(in->kr, bind, handle, csrf) != HS_OK ||
        ingress_url_origin(prov->authorize_url, pg.form_to,
                           sizeof(pg.form_to)) != HS_OK)
        return ingress_invalid_link(conn, r, "malformed_handle");
    pg.status = MHD_HTTP_OK;
    pg.refresh_s = 0;
    snprintf(pg.title, sizeof(pg.title), "%s", title);
    n = snprintf(pg.html, sizeof(pg.html),
                 "%s<p>Continue only if you started this yourself and your "
                 "editor shows this code:</p><p><code>%s</code></p>"
                 "<form method=\"post\" action=\"%s\"><input "
                 "type=\"hidden\" name=\"csrf\" value=\"%s\"><button "
                 "type=\"submit\">%s</button></form><p>If you did not start "
                 "this, close this tab: %s</p>",
                 intro, ucode, action, csrf, button, outro);
    if (n < 0 || (size_t)n >= sizeof(pg.html))
        return ingress_invalid_link(conn, r, "page_too_long");
    return ingress_respond_page(conn, r, &pg);
}

static enum MHD_Result confirm_page(const struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r,
                                    const struct hs_provider *prov,
                                    const char *code, const char *bind,
                                    const struct code_info *ci)
{
    char pname[32], account[600], agent[400], title[64], button[64];
    char intro[1200], action[300], code_enc[200];
    int n;

    ingress_provider_display(prov->name, pname, sizeof(pname));
    (void)ingress_html_escape(ci->account, account, sizeof(account));
    (void)ingress_html_escape(ci->agent_name[0] ? ci->agent_name
                                                : "your editor",
                              agent, sizeof(agent));
    /* The code is 43 base64url characters (checked): encoding it changes
     * nothing and is kept so the form never depends on that check. */
    if (hs_http_urlencode(code, code_enc, sizeof(code_enc)) != HS_OK)
        return ingress_invalid_link(conn, r, "malformed_code");
    snprintf(title, sizeof(title), "Connect %s?", pname);
    snprintf(button, sizeof(button), "Continue to %s", pname);
    n = snprintf(intro, sizeof(intro),
                 "<p>An app asked to connect <b>%s</b> to the handshake "
                 "account <b>%s</b>. The access will be delivered to the "
                 "agent <b>%s</b>.</p>",
                 pname, account, agent);
    if (n < 0 || (size_t)n >= sizeof(intro) ||
        /* Relative: back to the path it came from (or its alias). */
        snprintf(action, sizeof(action), "?code=%s", code_enc) >=
            (int)sizeof(action))
        return ingress_invalid_link(conn, r, "page_too_long");
    return ingress_confirm_page(in, conn, r, title, intro, ci->user_code,
                                action, code, bind, button,
                                "nothing will be connected.", prov);
}

/* The binding cookie of this browser, or a new one (sent as Set-Cookie).
 * 0 on success. */
int ingress_binding_ensure(const struct ingress *in,
                           struct MHD_Connection *conn, struct ingress_req *r,
                           char bind[44])
{
    char name[32], cookie[200];
    int n;

    if (ingress_binding_get(ingress_req_cookies(conn), in->https, bind, 44) ==
        HS_OK)
        return 0;
    if (hs_random_token(32, bind, 44) != HS_OK ||
        !ingress_cookie_name(in->https, "hs_bind", name, sizeof(name)))
        return -1;
    n = snprintf(cookie, sizeof(cookie),
                 "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000%s",
                 name, bind, in->https ? "; Secure" : "");
    if (n < 0 || (size_t)n >= sizeof(cookie))
        return -1;
    return ingress_req_set_cookie(r, cookie) == HS_OK ? 0 : -1;
}

int ingress_confirmed(const struct ingress *in, struct MHD_Connection *conn,
                      const struct ingress_req *r, const char *handle,
                      char bind[44])
{
    return !r->csrf_bad &&
           ingress_binding_get(ingress_req_cookies(conn), in->https, bind,
                               44) == HS_OK &&
           ingress_csrf_verify(in->kr, bind, handle, r->csrf) == HS_OK;
}

enum MHD_Result ingress_csrf_refused(struct MHD_Connection *conn,
                                     struct ingress_req *r)
{
    hs_log(HS_LOG_WARN, "confirm.csrf_refused",
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_text(
        conn, r, MHD_HTTP_FORBIDDEN, "Please confirm again",
        "This confirmation did not come from the page we showed you in "
        "this browser. Open the link from your editor again.");
}

enum MHD_Result ingress_connect_start(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const char *provider, int is_post)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    const char *code, *signup, *from, *port, *why = "malformed_query";
    char bind[44], rname[40], rval[200];
    struct code_info ci;
    enum hs_err rc;

    if (!prov) /* the router checked; kept so this stands alone */
        return ingress_respond_text(conn, r, MHD_HTTP_NOT_FOUND,
                                    "Unknown provider",
                                    "This service does not know that "
                                    "provider.");
    if (r->too_many_params)
        return ingress_invalid_link(conn, r, "too_many_params");
    if (ingress_query_verify(r->params, r->nparams, provider_auth_params,
                             &why) != HS_OK)
        return ingress_invalid_link(conn, r, why);
    code = ingress_param_get(r->params, r->nparams, "code");
    signup = ingress_param_get(r->params, r->nparams, "signup_id");
    from = ingress_param_get(r->params, r->nparams, "request_from");
    port = ingress_param_get(r->params, r->nparams, "port");
    if ((code != NULL) + (signup != NULL) + (from != NULL) != 1 ||
        (port && !from))
        return ingress_invalid_link(conn, r, "conflicting_params");
    if (signup)
        return ingress_signin_signup(in, conn, r, prov, signup, is_post);
    if (from)
        return ingress_loopback_start(in, conn, r, prov, from, port);
    if (!hs_b64url_is32(code))
        return ingress_invalid_link(conn, r, "malformed_code");
    rc = code_lookup(in, code, &ci);
    if (rc == HS_ERR_NOTFOUND)
        return ingress_invalid_link(conn, r, "unknown_code");
    if (rc != HS_OK)
        return ingress_unavailable_page(conn, r);
    if (is_post) {
        if (!ingress_confirmed(in, conn, r, code, bind))
            return ingress_csrf_refused(conn, r);
        return ingress_flow_launch(in, conn, r, prov, HS_FLOW_CONNECT,
                                   code, bind, handshake_insert);
    }
    if (ingress_binding_ensure(in, conn, r, bind) != 0)
        return MHD_NO;
    if (ingress_cookie_name(in->https, "hs_remember", rname, sizeof(rname)) &&
        ingress_cookie_get(ingress_req_cookies(conn), rname, rval,
                           sizeof(rval)) == HS_OK &&
        ingress_remember_verify(in->kr, rval, bind, ci.user_id,
                                hs_now_ms()) == HS_OK)
        return ingress_flow_launch(in, conn, r, prov, HS_FLOW_CONNECT,
                                   code, bind, handshake_insert);
    return confirm_page(in, conn, r, prov, code, bind, &ci);
}
