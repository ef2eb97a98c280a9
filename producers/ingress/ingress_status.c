/*
 * ingress_status: the handshake progress page and the probes (see
 * ingress_status.h). The page reads one row and shows it only to the
 * browser that started the flow: the binding cookie's hash must equal the
 * row's binding_hash (constant-time compare).
 */
#include "ingress_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"
#include "ingress_loopback.h"

#define KAFKA_PING_MS 2000

static int id_valid(const char *id)
{
    unsigned char raw[16];
    size_t n;

    return strlen(id) == HS_ID_LEN &&
           hs_b64url_decode(id, raw, sizeof(raw), &n) == HS_OK && n == 16;
}

static enum MHD_Result unknown(struct MHD_Connection *conn,
                               struct ingress_req *r)
{
    return ingress_respond_text(conn, r, MHD_HTTP_NOT_FOUND, "Unknown sign-in",
                                "There is no such sign-in. Start again from "
                                "your editor.");
}

static enum MHD_Result unavailable(struct MHD_Connection *conn,
                                   struct ingress_req *r)
{
    return ingress_respond_text(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "Temporarily unavailable",
                                "Please reload this page in a moment.");
}

enum MHD_Result ingress_status_page(const struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r, const char *id,
                                    int is_post)
{
    char age[16], bind[44], bh[44];
    const char *params[2] = {id, age};
    PGresult *res = NULL;
    enum hs_err rc;
    struct ingress_page page;
    const char *row_hash;

    if (!id_valid(id))
        return unknown(conn, r);
    snprintf(age, sizeof(age), "%d", INGRESS_LOOPBACK_AUTHORIZE_S);
    rc = ingress_pg_query(
        in,
        "SELECT h.status, coalesce(h.error, ''), h.flow, h.provider, "
        "h.binding_hash, h.expires_at < now(), coalesce(h.subject, ''), "
        "coalesce(h.requester_port, 0), coalesce(nullif(u.email, ''), "
        "nullif(u.name, ''), u.id, ''), coalesce(h.finished_at > now() - "
        "make_interval(secs => $2::int), "
        "false), EXISTS (SELECT 1 FROM loopback_handles l WHERE "
        "l.handshake_id = h.id) FROM handshakes h LEFT JOIN users u ON "
        "u.id = h.user_id WHERE h.id = $1",
        2, params, &res);
    if (rc != HS_OK)
        return unavailable(conn, r);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return unknown(conn, r);
    }
    row_hash = PQgetvalue(res, 0, 4);
    if (ingress_binding_get(ingress_req_cookies(conn), in->https, bind,
                            sizeof(bind)) != HS_OK ||
        strlen(row_hash) != HS_SHA256_B64_LEN) {
        PQclear(res);
        goto another_browser;
    }
    hs_sha256_b64url(bind, strlen(bind), bh);
    if (!hs_memeq(bh, row_hash, HS_SHA256_B64_LEN)) {
        PQclear(res);
        goto another_browser;
    }
    if (strcmp(PQgetvalue(res, 0, 2), "loopback") == 0 &&
        strcmp(PQgetvalue(res, 0, 0), "complete") == 0) {
        struct ingress_loopback_row row = {
            id, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 6),
            (int)strtol(PQgetvalue(res, 0, 7), NULL, 10), /* int column */
            PQgetvalue(res, 0, 8),
            PQgetvalue(res, 0, 9)[0] == 't', PQgetvalue(res, 0, 10)[0] == 't'};
        enum MHD_Result ret =
            ingress_loopback_authorize(in, conn, r, &row, bind, is_post);

        PQclear(res);
        return ret;
    }
    if (is_post) {
        PQclear(res);
        return ingress_respond_text(conn, r, MHD_HTTP_CONFLICT,
                                    "Nothing to authorize",
                                    "This sign-in has nothing to authorize "
                                    "now. Reload the page to see where it "
                                    "stands.");
    }
    ingress_status_describe(PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 0),
                            PQgetvalue(res, 0, 1),
                            PQgetvalue(res, 0, 3),
                            PQgetvalue(res, 0, 5)[0] == 't', &page);
    PQclear(res);
    return ingress_respond_page(conn, r, &page);
another_browser:
    return ingress_respond_text(conn, r, MHD_HTTP_FORBIDDEN,
                                "Another browser",
                                "This sign-in was started in another "
                                "browser. Look there, or start again from "
                                "your editor.");
}

enum MHD_Result ingress_healthz(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r)
{
    (void)in;
    return ingress_respond_json(conn, r, MHD_HTTP_OK,
                                json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result ingress_readyz(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct ingress_req *r)
{
    struct hs_pg *pg;
    int pg_ok = 0, kafka_ok, ready;

    if (hs_pg_pool_get(in->pool, INGRESS_POOL_WAIT_MS, &pg) == HS_OK) {
        pg_ok = hs_pg_ping(pg);
        hs_pg_pool_put(in->pool, pg);
    }
    kafka_ok = hs_kafka_producer_ping(in->producer, KAFKA_PING_MS);
    ready = pg_ok && kafka_ok;
    if (!ready)
        hs_log(HS_LOG_WARN, "ingress.not_ready",
               HS_KV_STR("kafka", kafka_ok ? "ok" : "unreachable"),
               HS_KV_STR("postgres", pg_ok ? "ok" : "unreachable"));
    return ingress_respond_json(
        conn, r, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
        json_pack("{s:s,s:s,s:s}", "status", ready ? "ready" : "not_ready",
                  "kafka", kafka_ok ? "ok" : "unreachable", "postgres",
                  pg_ok ? "ok" : "unreachable"));
}
