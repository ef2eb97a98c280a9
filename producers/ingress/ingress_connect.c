/*
 * ingress_connect: the browser side of the connect flow.
 *
 *   GET  /web/provider-auth/{p}?code=   confirmation page (or straight on
 *                                       when this browser is remembered)
 *   POST /web/provider-auth/{p}?code=   CSRF-checked: consume the code,
 *                                       insert the handshake, 302 provider
 *   GET  /no-auth/provider-token/{p}    verify the state, emit
 *                                       callback.received (acks=all), 302
 *   GET  /web/handshake/{id}            progress page, same browser only
 *
 * The callback path writes nothing to PostgreSQL: a replayed callback
 * emits a duplicate event that the worker's claim absorbs.
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_http.h"
#include "hs_log.h"
#include "hs_state.h"

#define REMEMBER_MS (30LL * 24 * 3600 * 1000)

static const char *display_name(const struct hs_provider *p, char *buf,
                                size_t cap)
{
    snprintf(buf, cap, "%s", p->name);
    if (buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 32);
    return buf;
}

static enum MHD_Result page_error(struct MHD_Connection *conn,
                                  struct ingress_req *r, unsigned status,
                                  const char *title, const char *text)
{
    char html[1024];

    snprintf(html, sizeof(html), "<p>%s</p>", text);
    return ingress_respond_page(conn, r, status, title, html, 0);
}

/* ---- cookies ----------------------------------------------------------- */

/* Reads the binding cookie, or makes a new one (queued as Set-Cookie). */
static int binding_get(struct ingress *in, struct MHD_Connection *conn,
                       struct ingress_req *r, char *bind, size_t cap,
                       int create)
{
    char name[32], cookie[200];
    const char *v;

    ingress_cookie_name(in, "hs_bind", name, sizeof(name));
    v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, name);
    if (v && strlen(v) == 43) {
        unsigned char raw[32];
        size_t n;

        if (hs_b64url_decode(v, raw, sizeof(raw), &n) == HS_OK && n == 32) {
            snprintf(bind, cap, "%s", v);
            return 1;
        }
    }
    if (!create)
        return 0;
    if (hs_random_token(32, bind, cap) != HS_OK)
        return 0;
    snprintf(cookie, sizeof(cookie),
             "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000%s", name,
             bind, in->https ? "; Secure" : "");
    ingress_req_set_cookie(r, cookie);
    return 1;
}

static void csrf_token(struct ingress *in, const char *bind, const char *code,
                       char out[44])
{
    char msg[400];
    unsigned char mac[32];
    int n = snprintf(msg, sizeof(msg), "csrf|%s|%s", bind, code);

    hs_mac(in->kr, HS_KEY_COOKIE, msg, n > 0 ? (size_t)n : 0, mac);
    hs_b64url_encode(mac, sizeof(mac), out, 44) == HS_OK ? (void)0
                                                         : (void)(out[0] = 0);
    hs_wipe(msg, sizeof(msg));
}

static int csrf_valid(struct ingress *in, const char *bind, const char *code,
                      const char *given)
{
    char msg[400];
    unsigned char mac[32];
    size_t n;
    int len = snprintf(msg, sizeof(msg), "csrf|%s|%s", bind, code);
    int ok;

    if (!given || hs_b64url_decode(given, mac, sizeof(mac), &n) != HS_OK ||
        n != 32 || len < 0 || (size_t)len >= sizeof(msg))
        return 0;
    ok = hs_mac_verify(in->kr, HS_KEY_COOKIE, msg, (size_t)len, mac);
    hs_wipe(msg, sizeof(msg));
    return ok;
}

/* remember = user_id "." expiry_ms "." b64url(mac over both + binding). */
static void remember_mac(struct ingress *in, const char *user_id,
                         long long exp, const char *bind, unsigned char mac[32])
{
    char msg[256];
    char bh[44];
    int n;

    hs_sha256_b64url(bind, strlen(bind), bh);
    n = snprintf(msg, sizeof(msg), "remember|%s|%lld|%s", user_id, exp, bh);
    hs_mac(in->kr, HS_KEY_COOKIE, msg, n > 0 ? (size_t)n : 0, mac);
}

static int remembered(struct ingress *in, struct MHD_Connection *conn,
                      const char *bind, const char *user_id, int64_t now)
{
    char name[40], val[200], *d1, *d2;
    const char *v;
    unsigned char want[32], got[32];
    size_t n;
    long long exp;

    ingress_cookie_name(in, "hs_remember", name, sizeof(name));
    v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, name);
    if (!v || strlen(v) >= sizeof(val))
        return 0;
    snprintf(val, sizeof(val), "%s", v);
    d1 = strchr(val, '.');
    d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return 0;
    *d1 = *d2 = '\0';
    exp = strtoll(d1 + 1, NULL, 10);
    if (strcmp(val, user_id) != 0 || exp < now ||
        hs_b64url_decode(d2 + 1, got, sizeof(got), &n) != HS_OK || n != 32)
        return 0;
    remember_mac(in, user_id, exp, bind, want);
    return hs_memeq(want, got, 32);
}

static void remember_set(struct ingress *in, struct ingress_req *r,
                         const char *bind, const char *user_id, int64_t now)
{
    char name[40], mac64[44], cookie[256];
    unsigned char mac[32];
    long long exp = now + REMEMBER_MS;

    remember_mac(in, user_id, exp, bind, mac);
    if (hs_b64url_encode(mac, sizeof(mac), mac64, sizeof(mac64)) != HS_OK)
        return;
    ingress_cookie_name(in, "hs_remember", name, sizeof(name));
    snprintf(cookie, sizeof(cookie),
             "%s=%s.%lld.%s; Path=/; HttpOnly; SameSite=Lax; "
             "Max-Age=2592000%s",
             name, user_id, exp, mac64, in->https ? "; Secure" : "");
    ingress_req_set_cookie(r, cookie);
}

/* ---- start ------------------------------------------------------------ */

struct code_info {
    char user_id[32];
    char agent_id[32];
    char user_code[16];
    char account[300]; /* email or name */
    char agent_name[200];
};

/* Looks up a live provider-auth code without consuming it. */
static enum hs_err code_lookup(struct ingress *in, const char *code,
                               struct code_info *ci)
{
    char hash[44];
    const char *params[1] = {hash};
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;

    hs_sha256_b64url(code, strlen(code), hash);
    if (hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK)
        return HS_ERR_TRANSIENT;
    rc = hs_pg_query(
        pg,
        "SELECT a.user_id, coalesce(a.agent_id, ''), a.user_code, "
        "coalesce(nullif(u.email, ''), u.name, u.id), coalesce(g.name, '') "
        "FROM auth_codes a JOIN users u ON u.id = a.user_id "
        "LEFT JOIN agents g ON g.id = a.agent_id "
        "WHERE a.code_hash = $1 AND a.used_at IS NULL AND a.expires_at > now()",
        1, params, &res);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK)
        return HS_ERR_TRANSIENT;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return HS_ERR_NOTFOUND;
    }
    snprintf(ci->user_id, sizeof(ci->user_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(ci->agent_id, sizeof(ci->agent_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(ci->user_code, sizeof(ci->user_code), "%s",
             PQgetvalue(res, 0, 2));
    snprintf(ci->account, sizeof(ci->account), "%s", PQgetvalue(res, 0, 3));
    snprintf(ci->agent_name, sizeof(ci->agent_name), "%s",
             PQgetvalue(res, 0, 4));
    PQclear(res);
    return HS_OK;
}

/* Consumes the code, inserts the handshake and redirects to the provider. */
static enum MHD_Result start_flow(struct ingress *in,
                                  struct MHD_Connection *conn,
                                  struct ingress_req *r,
                                  const struct hs_provider *prov,
                                  const char *code, const char *bind)
{
    char hash[44], bind_hash[44], ttl[16];
    struct hs_state st;
    char state[HS_STATE_MAX], challenge[44], redirect_uri[400];
    char *url = NULL;
    size_t cap;
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;
    enum MHD_Result ret;
    int64_t now = hs_now_ms();

    memset(&st, 0, sizeof(st));
    hs_sha256_b64url(code, strlen(code), hash);
    hs_sha256_b64url(bind, strlen(bind), bind_hash);
    snprintf(ttl, sizeof(ttl), "%d", in->cfg->state_ttl_s);
    if (hs_random_token(16, st.handshake_id, sizeof(st.handshake_id)) ||
        hs_random_token(32, st.verifier, sizeof(st.verifier)) ||
        hs_random_token(16, st.nonce, sizeof(st.nonce)))
        return page_error(conn, r, 500, "Something went wrong",
                          "Please start again from your editor.");
    if (hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK)
        return page_error(conn, r, 503, "Temporarily unavailable",
                          "Please try again in a moment.");
    {
        const char *p1[1] = {hash};

        rc = hs_pg_query(pg,
                         "UPDATE auth_codes SET used_at = now() WHERE "
                         "code_hash = $1 AND used_at IS NULL AND "
                         "expires_at > now() RETURNING user_id, "
                         "coalesce(agent_id, '')",
                         1, p1, &res);
    }
    if (rc == HS_OK && PQntuples(res) == 1) {
        const char *p2[6] = {st.handshake_id, prov->name,
                             PQgetvalue(res, 0, 0),
                             *PQgetvalue(res, 0, 1) ? PQgetvalue(res, 0, 1)
                                                    : NULL,
                             bind_hash, ttl};

        snprintf(st.subject, sizeof(st.subject), "%s", PQgetvalue(res, 0, 0));
        rc = hs_pg_query(pg,
                         "INSERT INTO handshakes (id, flow, provider, user_id,"
                         " agent_id, binding_hash, expires_at) VALUES ($1, "
                         "'connect', $2, $3, $4, $5, now() + make_interval("
                         "secs => $6::int))",
                         6, p2, NULL);
    } else if (rc == HS_OK) {
        rc = HS_ERR_NOTFOUND;
    }
    PQclear(res);
    hs_pg_pool_put(in->pool, pg);
    if (rc == HS_ERR_NOTFOUND)
        return page_error(conn, r, 400, "This link is not valid any more",
                          "It was already used, or it expired. Start again "
                          "from your editor.");
    if (rc != HS_OK)
        return page_error(conn, r, 503, "Temporarily unavailable",
                          "Please try again in a moment.");
    snprintf(st.env, sizeof(st.env), "%s", in->cfg->env);
    snprintf(st.provider, sizeof(st.provider), "%s", prov->name);
    st.flow = HS_FLOW_CONNECT;
    hs_sha256(bind, strlen(bind), st.binding);
    st.issued_ms = now;
    rc = hs_state_mint(in->kr, &st, state, sizeof(state));
    hs_pkce_challenge(st.verifier, challenge);
    hs_wipe(st.verifier, sizeof(st.verifier));
    if (rc != HS_OK)
        return page_error(conn, r, 500, "Something went wrong",
                          "Please start again from your editor.");
    snprintf(redirect_uri, sizeof(redirect_uri), "%s/no-auth/provider-token/%s",
             in->cfg->public_url, prov->name);
    cap = strlen(prov->authorize_url) + 3 * (strlen(state) +
          strlen(redirect_uri) + strlen(prov->scopes) +
          strlen(prov->client_id)) + 400;
    url = malloc(cap);
    if (!url)
        return MHD_NO;
    snprintf(url, cap, "%s%c", prov->authorize_url,
             strchr(prov->authorize_url, '?') ? '&' : '?');
    {
        size_t base = strlen(url);
        char *q = url + base;

        q[0] = '\0';
        rc = hs_http_form_add(q, cap - base, "response_type", "code");
        if (!rc) rc = hs_http_form_add(q, cap - base, "client_id", prov->client_id);
        if (!rc) rc = hs_http_form_add(q, cap - base, "redirect_uri", redirect_uri);
        if (!rc) rc = hs_http_form_add(q, cap - base, "scope", prov->scopes);
        if (!rc) rc = hs_http_form_add(q, cap - base, "state", state);
        if (!rc) rc = hs_http_form_add(q, cap - base, "code_challenge", challenge);
        if (!rc) rc = hs_http_form_add(q, cap - base, "code_challenge_method", "S256");
        if (!rc && prov->issuer[0])
            rc = hs_http_form_add(q, cap - base, "nonce", st.nonce);
    }
    if (rc != HS_OK) {
        free(url);
        return page_error(conn, r, 500, "Something went wrong",
                          "Please start again from your editor.");
    }
    remember_set(in, r, bind, st.subject, now);
    hs_log(HS_LOG_INFO, "handshake.started",
           HS_KV_STR("handshake_id", st.handshake_id),
           HS_KV_STR("provider", prov->name), HS_KV_STR("flow", "connect"),
           HS_KV_STR("request_id", r->request_id));
    ret = ingress_respond_redirect(conn, r, url);
    free(url);
    return ret;
}

static enum MHD_Result confirm_page(struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r,
                                    const struct hs_provider *prov,
                                    const char *code, const char *bind,
                                    const struct code_info *ci)
{
    char pname[32], account[400], agent[300], csrf[44];
    char code_enc[200], html[2048], title[96];
    char action[300];

    display_name(prov, pname, sizeof(pname));
    ingress_html_escape(ci->account, account, sizeof(account));
    ingress_html_escape(ci->agent_name[0] ? ci->agent_name : "your editor",
                        agent, sizeof(agent));
    csrf_token(in, bind, code, csrf);
    if (hs_http_urlencode(code, code_enc, sizeof(code_enc)) != HS_OK)
        return page_error(conn, r, 400, "This link is not valid",
                          "Start again from your editor.");
    snprintf(action, sizeof(action), "/web/provider-auth/%s?code=%s",
             prov->name, code_enc);
    snprintf(title, sizeof(title), "Connect %s?", pname);
    snprintf(html, sizeof(html),
             "<p>An app asked to connect <b>%s</b> to the handshake account "
             "<b>%s</b>. The access will be delivered to the agent "
             "<b>%s</b>.</p>"
             "<p>Continue only if you started this yourself and your editor "
             "shows this code:</p><p><code>%s</code></p>"
             "<form method=\"post\" action=\"%s\">"
             "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
             "<button type=\"submit\">Continue to %s</button></form>"
             "<p>If you did not start this, close this tab: nothing will "
             "be connected.</p>",
             pname, account, agent, ci->user_code, action, csrf, pname);
    return ingress_respond_page(conn, r, 200, title, html, 0);
}

enum MHD_Result ingress_connect_start(struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const char *provider, int is_post)
{
    const struct hs_provider *prov = hs_catalog_find(in->cat, provider);
    const char *code, *signup, *from;
    char bind[48];
    struct code_info ci;
    enum hs_err rc;

    if (!prov)
        return page_error(conn, r, 404, "Unknown provider",
                          "This service does not know that provider.");
    if (ingress_query_valid(conn) != 0)
        return page_error(conn, r, 400, "This link is not valid",
                          "A parameter is repeated, too long or malformed. "
                          "Start again from your editor.");
    code = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
    signup = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                         "signup_id");
    from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                       "request_from");
    if ((code != NULL) + (signup != NULL) + (from != NULL) != 1)
        return page_error(conn, r, 400, "This link is not valid",
                          "It needs exactly one of code, signup_id or "
                          "request_from. Start again from your editor.");
    if (!code)
        return page_error(conn, r, 400, "Not available",
                          "Sign-up and loopback sign-in are not available on "
                          "this server yet.");
    if (strlen(code) != 43)
        return page_error(conn, r, 400, "This link is not valid any more",
                          "It was already used, or it expired. Start again "
                          "from your editor.");
    rc = code_lookup(in, code, &ci);
    if (rc == HS_ERR_NOTFOUND)
        return page_error(conn, r, 400, "This link is not valid any more",
                          "It was already used, or it expired. Start again "
                          "from your editor.");
    if (rc != HS_OK)
        return page_error(conn, r, 503, "Temporarily unavailable",
                          "Please try again in a moment.");
    if (is_post) {
        if (!binding_get(in, conn, r, bind, sizeof(bind), 0) ||
            !csrf_valid(in, bind, code, r->csrf))
            return page_error(conn, r, 403, "Please confirm again",
                              "This confirmation did not come from the page "
                              "we showed you. Open the link from your editor "
                              "again.");
        return start_flow(in, conn, r, prov, code, bind);
    }
    if (!binding_get(in, conn, r, bind, sizeof(bind), 1))
        return MHD_NO;
    if (remembered(in, conn, bind, ci.user_id, hs_now_ms()))
        return start_flow(in, conn, r, prov, code, bind);
    return confirm_page(in, conn, r, prov, code, bind, &ci);
}

/* ---- callback ----------------------------------------------------------- */

static enum MHD_Result reject(struct MHD_Connection *conn,
                              struct ingress_req *r, const char *reason,
                              const char *text)
{
    hs_log(HS_LOG_WARN, "callback.rejected", HS_KV_STR("reason", reason),
           HS_KV_STR("request_id", r->request_id));
    return page_error(conn, r, 400, "This sign-in cannot be completed", text);
}

/* Builds, seals and emits callback.received. HS_OK once acknowledged. */
static enum hs_err emit_callback(struct ingress *in, const struct hs_state *st,
                                 const char *code, const char *error,
                                 const char *error_desc, const char *iss)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));
    json_t *secret;
    char *pt = NULL, topic[128], redirect_uri[400];
    size_t sealed_len;
    msgpack_sbuffer sb;
    enum hs_err rc = HS_ERR_NOMEM;

    if (!ev)
        return HS_ERR_NOMEM;
    msgpack_sbuffer_init(&sb);
    snprintf(redirect_uri, sizeof(redirect_uri), "%s/no-auth/provider-token/%s",
             in->cfg->public_url, st->provider);
    secret = json_pack("{s:s,s:s,s:s}", "verifier", st->verifier, "nonce",
                       st->nonce, "redirect_uri", redirect_uri);
    if (!secret)
        goto out;
    if (code)
        json_object_set_new(secret, "code", json_string(code));
    pt = json_dumps(secret, JSON_COMPACT);
    json_decref(secret);
    if (!pt)
        goto out;
    hs_event_init(ev, HS_EV_CALLBACK_RECEIVED, in->cfg->env, hs_now_ms());
    snprintf(ev->handshake_id, sizeof(ev->handshake_id), "%s",
             st->handshake_id);
    snprintf(ev->provider, sizeof(ev->provider), "%s", st->provider);
    ev->flow = st->flow;
    snprintf(ev->subject, sizeof(ev->subject), "%s", st->subject);
    if (error) {
        snprintf(ev->error, sizeof(ev->error), "%s", error);
        snprintf(ev->error_description, sizeof(ev->error_description), "%s",
                 error_desc ? error_desc : "");
    }
    if (iss)
        snprintf(ev->iss, sizeof(ev->iss), "%s", iss);
    snprintf(ev->kid, sizeof(ev->kid), "%s", hs_keyring_active_kid(in->kr));
    rc = hs_aead_seal(in->kr, HS_KEY_PIPELINE, pt, strlen(pt),
                      st->handshake_id, strlen(st->handshake_id), ev->sealed,
                      sizeof(ev->sealed), &sealed_len);
    if (rc != HS_OK)
        goto out;
    ev->sealed_len = sealed_len;
    rc = hs_event_encode(ev, &sb);
    if (rc != HS_OK)
        goto out;
    if (!hs_config_topic(in->cfg, HS_TOPIC_CALLBACKS, topic, sizeof(topic))) {
        rc = HS_ERR_CONFIG;
        goto out;
    }
    rc = hs_kafka_produce_acked(in->producer, topic, st->handshake_id,
                                strlen(st->handshake_id), sb.data, sb.size);
out:
    if (pt) {
        hs_wipe(pt, strlen(pt));
        free(pt);
    }
    hs_event_wipe(ev);
    free(ev);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Only printable ASCII: provider error codes are RFC 6749 tokens. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

enum MHD_Result ingress_callback(struct ingress *in,
                                 struct MHD_Connection *conn,
                                 struct ingress_req *r, const char *provider)
{
    const char *code, *state, *error, *edesc, *iss;
    char bind[48], env[32], location[96];
    unsigned char bh[32];
    struct hs_state st;
    enum hs_err rc;

    if (!hs_catalog_find(in->cat, provider))
        return page_error(conn, r, 404, "Unknown provider",
                          "This service does not know that provider.");
    if (ingress_query_valid(conn) != 0)
        return reject(conn, r, "malformed_query",
                      "The answer from the provider was malformed. Start "
                      "again from your editor.");
    code = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
    state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
    error = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "error");
    edesc = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                        "error_description");
    iss = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "iss");
    if (!state || !*state)
        return reject(conn, r, "missing_state",
                      "The answer from the provider had no state. Start "
                      "again from your editor.");
    if ((code != NULL) == (error != NULL) || (code && !*code) ||
        (error && (!*error || strlen(error) >= 64 || !printable(error))) ||
        (edesc && (strlen(edesc) >= 256 || !printable(edesc))) ||
        (iss && strlen(iss) >= 256) || (code && strlen(code) > 2048))
        return reject(conn, r, "malformed_query",
                      "The answer from the provider was malformed. Start "
                      "again from your editor.");
    if (hs_state_env(state, env, sizeof(env)) != HS_OK)
        return reject(conn, r, "forged_state",
                      "This answer does not belong to a sign-in we "
                      "started. Start again from your editor.");
    if (strcmp(env, in->cfg->env) != 0)
        return reject(conn, r, "foreign_env",
                      "This answer belongs to another environment.");
    rc = hs_state_verify(in->kr, state, hs_now_ms(),
                         (int64_t)in->cfg->state_ttl_s * 1000, &st);
    if (rc == HS_ERR_EXPIRED)
        return reject(conn, r, "expired_state",
                      "This sign-in took too long and expired. Start again "
                      "from your editor.");
    if (rc != HS_OK)
        return reject(conn, r, "forged_state",
                      "This answer does not belong to a sign-in we "
                      "started. Start again from your editor.");
    if (strcmp(st.provider, provider) != 0) {
        hs_wipe(&st, sizeof(st));
        return reject(conn, r, "wrong_provider",
                      "This answer came back from a different provider "
                      "than the one the sign-in went to.");
    }
    if (!binding_get(in, conn, r, bind, sizeof(bind), 0)) {
        hs_wipe(&st, sizeof(st));
        return reject(conn, r, "unbound_state",
                      "This sign-in was started in another browser. Finish "
                      "it in the browser where it began.");
    }
    hs_sha256(bind, strlen(bind), bh);
    if (!hs_memeq(bh, st.binding, sizeof(bh))) {
        hs_wipe(&st, sizeof(st));
        return reject(conn, r, "unbound_state",
                      "This sign-in was started in another browser. Finish "
                      "it in the browser where it began.");
    }
    rc = emit_callback(in, &st, code, error, edesc, iss);
    snprintf(location, sizeof(location), "/web/handshake/%s",
             st.handshake_id);
    hs_log(rc == HS_OK ? HS_LOG_INFO : HS_LOG_ERROR,
           rc == HS_OK ? "callback.received" : "callback.emit_failed",
           HS_KV_STR("handshake_id", st.handshake_id),
           HS_KV_STR("provider", st.provider),
           HS_KV_STR("outcome", error ? "error" : "code"),
           HS_KV_STR("reason", hs_strerror(rc)),
           HS_KV_STR("request_id", r->request_id));
    hs_wipe(&st, sizeof(st));
    if (rc != HS_OK) {
        char text[300], pname[32];
        const struct hs_provider *prov = hs_catalog_find(in->cat, provider);

        snprintf(text, sizeof(text),
                 "We could not record the answer from %s. Nothing was "
                 "connected. Start again from your editor in a moment.",
                 display_name(prov, pname, sizeof(pname)));
        return page_error(conn, r, 503, "Temporarily unavailable", text);
    }
    return ingress_respond_redirect(conn, r, location);
}

/* ---- status page ------------------------------------------------------ */

static int id_valid(const char *id)
{
    unsigned char raw[16];
    size_t n;

    return strlen(id) == 22 &&
           hs_b64url_decode(id, raw, sizeof(raw), &n) == HS_OK && n == 16;
}

enum MHD_Result ingress_status_page(struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r, const char *id)
{
    const char *params[1] = {id};
    struct hs_pg *pg;
    PGresult *res = NULL;
    enum hs_err rc;
    char bind[48], bh[44], pname[40], html[1024], err[200];
    const char *status;
    int expired;
    enum MHD_Result ret;

    if (!id_valid(id))
        return page_error(conn, r, 404, "Unknown sign-in",
                          "There is no such sign-in.");
    if (hs_pg_pool_get(in->pool, 2000, &pg) != HS_OK)
        return page_error(conn, r, 503, "Temporarily unavailable",
                          "Please reload in a moment.");
    rc = hs_pg_query(pg,
                     "SELECT status, coalesce(error, ''), provider, "
                     "binding_hash, expires_at < now() FROM handshakes "
                     "WHERE id = $1",
                     1, params, &res);
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK)
        return page_error(conn, r, 503, "Temporarily unavailable",
                          "Please reload in a moment.");
    if (PQntuples(res) != 1) {
        PQclear(res);
        return page_error(conn, r, 404, "Unknown sign-in",
                          "There is no such sign-in.");
    }
    if (!binding_get(in, conn, r, bind, sizeof(bind), 0) ||
        (hs_sha256_b64url(bind, strlen(bind), bh),
         strlen(PQgetvalue(res, 0, 3)) != 43 ||
         !hs_memeq(bh, PQgetvalue(res, 0, 3), 43))) {
        PQclear(res);
        return page_error(conn, r, 403, "Another browser",
                          "This sign-in was started in another browser. "
                          "Look there, or start again from your editor.");
    }
    status = PQgetvalue(res, 0, 0);
    expired = PQgetvalue(res, 0, 4)[0] == 't';
    snprintf(pname, sizeof(pname), "%s", PQgetvalue(res, 0, 2));
    if (pname[0] >= 'a' && pname[0] <= 'z')
        pname[0] = (char)(pname[0] - 32);
    ingress_html_escape(PQgetvalue(res, 0, 1), err, sizeof(err));
    if (strcmp(status, "complete") == 0) {
        snprintf(html, sizeof(html),
                 "<p>%s is connected. You can close this tab and return to "
                 "your editor.</p>", pname);
        ret = ingress_respond_page(conn, r, 200, "Connected", html, 0);
    } else if (strcmp(status, "failed") == 0) {
        if (strcmp(err, "access_denied") == 0)
            snprintf(html, sizeof(html),
                     "<p>You declined access at %s. Nothing was connected. "
                     "You can close this tab.</p>", pname);
        else
            snprintf(html, sizeof(html),
                     "<p>Connecting %s failed (%s). Nothing was connected. "
                     "Start again from your editor.</p>", pname,
                     err[0] ? err : "unknown error");
        ret = ingress_respond_page(conn, r, 200, "Connecting failed", html, 0);
    } else if (expired && strcmp(status, "started") == 0) {
        ret = page_error(conn, r, 200, "Expired",
                         "This sign-in expired. Start again from your "
                         "editor.");
    } else {
        snprintf(html, sizeof(html),
                 "<p>Connecting to %s… This page updates by itself.</p>",
                 pname);
        ret = ingress_respond_page(conn, r, 200, "Connecting…", html, 1);
    }
    PQclear(res);
    return ret;
}
