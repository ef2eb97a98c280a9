/* hs_outbox: insert and relay (contract in hs_outbox.h). */
#include "hs_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"

#define BATCH 100

enum hs_err hs_outbox_add(struct hs_pg *pg, const char *topic,
                          const char *key, const void *payload, size_t len)
{
    const char *params[3] = {topic, key, payload};
    const int lens[3] = {0, (int)strlen(key), (int)len};
    const int fmts[3] = {0, 1, 1};

    return hs_pg_query_bin(pg,
                           "INSERT INTO outbox (topic, key, payload) VALUES "
                           "($1, $2, $3)",
                           3, params, lens, fmts, NULL);
}

enum hs_err hs_outbox_relay(struct hs_pg *pg, struct hs_kafka_producer *p,
                            const struct hs_config *cfg, int *sent)
{
    PGresult *res = NULL;
    enum hs_err rc;
    int n = 0;
    char ids[BATCH * 24 + 4];
    size_t pos = 0;

    if (sent)
        *sent = 0;
    rc = hs_pg_begin(pg);
    if (rc != HS_OK)
        return rc;
    rc = hs_pg_query(pg,
                     "SELECT id, topic, key, payload FROM outbox ORDER BY id "
                     "LIMIT 100 FOR UPDATE SKIP LOCKED",
                     0, NULL, &res);
    if (rc != HS_OK)
        goto fail;
    n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return hs_pg_commit(pg);
    }
    ids[pos++] = '{';
    for (int i = 0; i < n; i++) {
        unsigned char *key = NULL, *val = NULL;
        size_t klen = 0, vlen = 0;
        char topic[128];

        if (hs_pg_bytea(res, i, 2, &key, &klen) != HS_OK ||
            hs_pg_bytea(res, i, 3, &val, &vlen) != HS_OK ||
            !hs_config_topic(cfg, PQgetvalue(res, i, 1), topic,
                             sizeof(topic))) {
            free(key);
            free(val);
            rc = HS_ERR_INTERNAL;
            goto fail;
        }
        rc = hs_kafka_produce(p, topic, key, klen, val, vlen);
        free(key);
        free(val);
        if (rc != HS_OK)
            goto fail;
        pos += (size_t)snprintf(ids + pos, sizeof(ids) - pos, "%s%s",
                                i ? "," : "", PQgetvalue(res, i, 0));
    }
    snprintf(ids + pos, sizeof(ids) - pos, "}");
    rc = hs_kafka_flush(p, cfg->kafka_timeout_ms);
    if (rc != HS_OK)
        goto fail;
    {
        const char *params[1] = {ids};

        rc = hs_pg_query(pg, "DELETE FROM outbox WHERE id = ANY($1::bigint[])",
                         1, params, NULL);
    }
    if (rc != HS_OK)
        goto fail;
    PQclear(res);
    rc = hs_pg_commit(pg);
    if (rc == HS_OK && sent)
        *sent = n;
    return rc;
fail:
    PQclear(res);
    hs_pg_rollback(pg);
    hs_log(HS_LOG_WARN, "outbox.relay_failed",
           HS_KV_STR("reason", hs_strerror(rc)));
    return rc;
}

enum hs_err hs_outbox_add_event(struct hs_pg *pg, const char *topic,
                                const char *key, const struct hs_event *ev)
{
    msgpack_sbuffer sb;
    enum hs_err rc;

    msgpack_sbuffer_init(&sb);
    rc = hs_event_encode(ev, &sb);
    if (rc == HS_OK)
        rc = hs_outbox_add(pg, topic, key, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
