/*
 * ingress_loopback: the loopback flow (see ingress_loopback.h).
 *
 * Open redirects: the only Location this module ever sends is
 * hs_requester_redirect() of an allow-list entry, a port that entry
 * accepted and a handle we drew. Phishing: the handle is minted only by a
 * POST from our "Authorize" page (CSRF token bound to this browser and
 * this handshake) in the browser whose binding cookie started the flow,
 * so a link sent to someone else redirects nobody anywhere.
 */
#include "ingress_loopback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"
#include "hs_requesters.h"
#include "ingress_connect.h"

/* ---- start -------------------------------------------------------------- */

/* The ingress_flow_insert of the loopback flow. handle is
 * "<port>:<requester>" (requester names hold no ':'). */
static enum hs_err loopback_insert(const struct ingress *in,
                                   struct hs_pg *pg, const char *handle,
                                   const char *bind_hash,
                                   struct hs_state *st)
{
    const char *colon = strchr(handle, ':');
    char ttl[16];
    const char *p[6] = {st->handshake_id, st->provider, NULL, bind_hash, ttl,
                        NULL};
    char port[8];

    if (!colon || (size_t)(colon - handle) >= sizeof(port) ||
        strlen(colon + 1) >= sizeof(st->subject))
        return HS_ERR_INVALID;
    snprintf(port, sizeof(port), "%.*s", (int)(colon - handle), handle);
    snprintf(st->subject, sizeof(st->subject), "%s", colon + 1);
    snprintf(ttl, sizeof(ttl), "%d", in->cfg->state_ttl_s);
    p[2] = st->subject;
    p[5] = strcmp(port, "0") == 0 ? NULL : port;
    return hs_pg_query(pg,
                       "INSERT INTO handshakes (id, flow, provider, subject, "
                       "binding_hash, expires_at, requester_port) VALUES "
                       "($1, 'loopback', $2, $3, $4, now() + "
                       "make_interval(secs => $5::int), $6::int)",
                       6, p, NULL);
}

static enum MHD_Result refused(struct MHD_Connection *conn,
                               struct ingress_req *r, const char *reason,
                               const char *text)
{
    hs_log(HS_LOG_INFO, "loopback.refused", HS_KV_STR("reason", reason),
           HS_KV_STR("request_id", r->request_id));
    return ingress_respond_text(conn, r, MHD_HTTP_BAD_REQUEST,
                                "This link is not valid", text);
}

enum MHD_Result ingress_loopback_start(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const struct hs_provider *prov,
                                       const char *from, const char *port)
{
    const struct hs_requester *rq = hs_requesters_find(in->requesters, from);
    char bind[44], handle[48];
    int p;

    if (!rq)
        return refused(conn, r, "unknown_requester",
                       "The app that opened this page is not allowed to "
                       "ask for a sign-in on this server.");
    if (hs_requester_port(rq, port, &p) != HS_OK)
        return refused(conn, r, "bad_port",
                       "The port in this link is missing or not one the "
                       "app may use. Start again from your editor.");
    if (!prov->signin)
        return refused(conn, r, "not_signin_provider",
                       "This provider cannot be used to sign in here.");
    if (ingress_binding_ensure(in, conn, r, bind) != 0)
        return MHD_NO;
    /* An entry with a fixed port keeps it: only "any" ports are stored. */
    snprintf(handle, sizeof(handle), "%d:%s",
             rq->port == HS_REQUESTER_PORT_ANY ? p : 0, rq->name);
    return ingress_flow_launch(in, conn, r, prov, HS_FLOW_LOOPBACK, handle,
                               bind, loopback_insert);
}

/* ---- "Authorize X?" ----------------------------------------------------- */

#define CSRF_PREFIX "loopback:"

/* The port to redirect to under the entry as configured now: the stored
 * one for an any-port entry, the entry's own otherwise; -1 when an
 * any-port entry meets a flow that stored none (the entry changed). */
static int target_port(const struct hs_requester *rq,
                       const struct ingress_loopback_row *row)
{
    if (rq->port != HS_REQUESTER_PORT_ANY)
        return rq->port;
    return row->port > 0 ? row->port : -1;
}

static enum MHD_Result authorize_page(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const struct ingress_loopback_row *row,
                                      const struct hs_requester *rq,
                                      const char *bind)
{
    char name[100], account[700], pname[32], what[64], csrf[44];
    struct ingress_page pg;
    int n;

    (void)ingress_html_escape(rq->name, name, sizeof(name));
    (void)ingress_html_escape(row->account, account, sizeof(account));
    ingress_provider_display(row->provider, pname, sizeof(pname));
    snprintf(what, sizeof(what), CSRF_PREFIX "%s", row->id);
    if (ingress_csrf_make(in->kr, bind, what, csrf) != HS_OK ||
        hs_requester_origin(rq, target_port(rq, row), pg.form_to,
                            sizeof(pg.form_to)) != HS_OK)
        return ingress_invalid_link(conn, r, "page_too_long");
    pg.status = MHD_HTTP_OK;
    pg.refresh_s = 0;
    snprintf(pg.title, sizeof(pg.title), "Authorize %s?", rq->name);
    n = snprintf(pg.html, sizeof(pg.html),
                 "<p>You signed in with %s as <b>%s</b>.</p><p><b>%s</b> on "
                 "this computer asks for access to this handshake account. "
                 "Authorize it only if you started this from %s "
                 "yourself.</p><form method=\"post\" "
                 "action=\"/web/handshake/%s\"><input type=\"hidden\" "
                 "name=\"csrf\" value=\"%s\"><button type=\"submit\">"
                 "Authorize %s</button></form><p>Otherwise close this tab: "
                 "nothing is sent.</p>",
                 pname, account, name, name, row->id, csrf, name);
    if (n < 0 || (size_t)n >= sizeof(pg.html))
        return ingress_invalid_link(conn, r, "page_too_long");
    return ingress_respond_page(conn, r, &pg);
}

/* Inserts the handle of the handshake (at most one ever). HS_OK when this
 * call minted it; HS_ERR_CONFLICT when one exists or the handshake cannot
 * be authorized any more. */
static enum hs_err mint(const struct ingress *in, const char *id,
                        const char *handle)
{
    char hash[44], age[16];
    const char *p[3] = {hash, id, age};
    PGresult *res = NULL;
    enum hs_err rc;

    hs_sha256_b64url(handle, strlen(handle), hash);
    snprintf(age, sizeof(age), "%d", INGRESS_LOOPBACK_AUTHORIZE_S);
    rc = ingress_pg_query(in,
                          "INSERT INTO loopback_handles (handle_hash, "
                          "handshake_id, user_id) SELECT $1, id, user_id "
                          "FROM handshakes WHERE id = $2 AND flow = "
                          "'loopback' AND status = 'complete' AND user_id "
                          "IS NOT NULL AND finished_at > now() - "
                          "make_interval(secs => $3::int) ON CONFLICT "
                          "(handshake_id) DO NOTHING RETURNING 1",
                          3, p, &res);
    if (rc == HS_OK && PQntuples(res) != 1)
        rc = HS_ERR_CONFLICT;
    PQclear(res);
    return rc;
}

static enum MHD_Result authorized_page(struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const char *requester, unsigned status)
{
    char text[200];

    snprintf(text, sizeof(text), "%s was authorized already. You can close "
             "this tab and go back to it.", requester);
    return ingress_respond_text(conn, r, status, "Authorized", text);
}

enum MHD_Result ingress_loopback_authorize(const struct ingress *in,
                                           struct MHD_Connection *conn,
                                           struct ingress_req *r,
                                           const struct ingress_loopback_row
                                               *row,
                                           const char *bind, int is_post)
{
    const struct hs_requester *rq =
        hs_requesters_find(in->requesters, row->requester);
    char what[64], handle[44], url[512], cookie[44];
    enum hs_err rc;
    enum MHD_Result ret;

    if (!rq || target_port(rq, row) < 0)
        return refused(conn, r, "unknown_requester",
                       "The app that started this sign-in is no longer "
                       "allowed on this server.");
    if (row->minted)
        return authorized_page(conn, r, rq->name,
                               is_post ? MHD_HTTP_CONFLICT : MHD_HTTP_OK);
    if (!row->fresh)
        return ingress_respond_text(conn, r,
                                    is_post ? MHD_HTTP_GONE : MHD_HTTP_OK,
                                    "Too late to authorize",
                                    "This sign-in finished too long ago to "
                                    "authorize. Start again from your "
                                    "editor.");
    if (!is_post)
        return authorize_page(in, conn, r, row, rq, bind);
    snprintf(what, sizeof(what), CSRF_PREFIX "%s", row->id);
    if (!ingress_confirmed(in, conn, r, what, cookie))
        return ingress_csrf_refused(conn, r);
    if (hs_random_token(32, handle, sizeof(handle)) != HS_OK)
        return MHD_NO;
    rc = mint(in, row->id, handle);
    if (rc == HS_OK)
        rc = hs_requester_redirect(rq, target_port(rq, row), handle, url,
                                   sizeof(url));
    hs_wipe(handle, sizeof(handle));
    if (rc == HS_OK) {
        /* Held: the handle goes out only once recorded; unrecorded, it
         * stays minted but unknown to anyone, and lapses in 60 s. */
        struct hs_audit_step s = {.action = "loopback.authorized",
                                  .outcome = "ok", .reason = rq->name,
                                  .handshake_id = row->id};

        rc = ingress_audit_hold(in, conn, &s);
    }
    if (rc == HS_ERR_CONFLICT)
        return authorized_page(conn, r, rq->name, MHD_HTTP_CONFLICT);
    if (rc != HS_OK) {
        hs_wipe(url, sizeof(url));
        return ingress_unavailable_page(conn, r);
    }
    hs_log(HS_LOG_INFO, "loopback.authorized",
           HS_KV_STR("handshake_id", row->id),
           HS_KV_STR("requester", rq->name),
           HS_KV_STR("request_id", r->request_id));
    ret = ingress_respond_redirect(conn, r, url);
    hs_wipe(url, sizeof(url));
    return ret;
}

/* ---- POST /no-auth/loopback-token --------------------------------------- */

enum MHD_Result ingress_loopback_redeem(const struct ingress *in,
                                        struct MHD_Connection *conn,
                                        struct ingress_req *r)
{
    enum MHD_Result ret = MHD_NO;
    json_t *body = ingress_body_object(conn, r, 0, &ret);
    const char *code, *outcome;
    int ok = 0;
    char hash[44], token[44], token_hash[44];
    const char *p[2] = {hash, token_hash};
    PGresult *res = NULL;
    struct hs_pg *pg;
    enum hs_err rc;

    if (!body)
        return ret;
    code = json_string_value(json_object_get(body, "code"));
    if (!hs_b64url_is32(code)) {
        json_decref(body);
        return ingress_respond_error(conn, r, MHD_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "code must be the code the browser "
                                     "brought back: 43 base64url "
                                     "characters.");
    }
    hs_sha256_b64url(code, strlen(code), hash);
    json_decref(body);
    if (hs_random_token(32, token, sizeof(token)) != HS_OK)
        return MHD_NO;
    hs_sha256_b64url(token, strlen(token), token_hash);
    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) != HS_OK) {
        hs_wipe(token, sizeof(token));
        return ingress_respond_unavailable(conn, r);
    }
    rc = hs_pg_begin(pg);
    if (rc == HS_OK)
        rc = hs_pg_query(pg,
                         "SELECT outcome, coalesce(user_id, ''), "
                         "coalesce(email, ''), coalesce(name, '') FROM "
                         "hs_loopback_redeem($1, $2)",
                         2, p, &res);
    if (rc != HS_OK || PQntuples(res) != 1) {
        hs_pg_rollback(pg);
        rc = HS_ERR_TRANSIENT;
    } else {
        outcome = PQgetvalue(res, 0, 0);
        ok = strcmp(outcome, "ok") == 0;
        /* Held: the API token is released only once recorded. */
        struct hs_audit_step s = {
            .action = ok ? "api_token.issued" : "loopback.redeem_refused",
            .outcome = ok ? "ok" : "rejected",
            .reason = ok ? "loopback" : outcome,
            .user_id = ok ? PQgetvalue(res, 0, 1) : NULL,
            .token = ok ? token : NULL};

        if (ok) {
            rc = ingress_txn_finish(in, conn, pg, &s);
        } else {
            rc = ingress_txn_finish(in, conn, pg, NULL);
            ingress_audit(in, conn, &s);
        }
    }
    hs_pg_pool_put(in->pool, pg);
    if (rc != HS_OK) {
        PQclear(res);
        hs_wipe(token, sizeof(token));
        return ingress_respond_failed(conn, r, rc);
    }
    if (ok) {
        hs_log(HS_LOG_INFO, "loopback.redeemed",
               HS_KV_STR("user_id", PQgetvalue(res, 0, 1)),
               HS_KV_STR("request_id", r->request_id));
        ret = ingress_respond_json(
            conn, r, MHD_HTTP_OK,
            json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "access_token", token,
                      "token_type", "Bearer", "user", "id",
                      PQgetvalue(res, 0, 1), "email", PQgetvalue(res, 0, 2),
                      "name", PQgetvalue(res, 0, 3)));
    } else {
        hs_log(HS_LOG_INFO, "loopback.redeem_refused",
               HS_KV_STR("reason", outcome),
               HS_KV_STR("request_id", r->request_id));
        ret = ingress_respond_error(
            conn, r, MHD_HTTP_BAD_REQUEST, "invalid_code",
            strcmp(outcome, "used") == 0
                ? "This code was used already: sign in again."
                : strcmp(outcome, "expired") == 0
                      ? "This code is older than 60 seconds: sign in again."
                      : "This code is unknown: sign in again.");
    }
    PQclear(res);
    hs_wipe(token, sizeof(token));
    return ret;
}
