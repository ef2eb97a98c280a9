/*
 * ingress_status: the handshake progress page and the probes (see
 * ingress_status.h). The page reads one row and shows it only to the
 * browser that started the flow: the binding cookie's hash must equal the
 * row's binding_hash (constant-time compare).
 */
#include "ingress_status.h"

#include <stdio.h>
#include <string.h>

#include "hs_log.h"

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
                                    struct ingress_req *r, const char *id)
{
    const char *params[1] = {id};
    PGresult *res = NULL;
    enum hs_err rc;
    char bind[44], bh[44];
    struct ingress_page page;
    const char *row_hash;

    if (!id_valid(id))
        return unknown(conn, r);
    rc = ingress_pg_query(in,
                          "SELECT status, coalesce(error, ''), flow, "
                          "provider, binding_hash, expires_at < now() FROM "
                          "handshakes WHERE id = $1",
                          1, params, &res);
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
