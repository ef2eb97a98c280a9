/*
 * agent_channel: the agent's view of its me-channel (contract in agent.h).
 *
 * hs.me is keyed by user id with the murmur2_random partitioner, so the
 * agent computes its partition itself and reads only that one, without a
 * consumer group, from the high watermark read when it opened.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "hs_kafka.h"
#include "hs_log.h"

struct agent_channel {
    rd_kafka_t *rk;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    (void)rk;
    hs_log(level <= 3 ? HS_LOG_ERROR : HS_LOG_DEBUG, "kafka.log",
           HS_KV_STR("fac", fac), HS_KV_STR("message", buf));
}

enum hs_err agent_channel_open(const char *brokers, const char *user_id,
                               struct agent_channel **out, char *err,
                               size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    rd_kafka_topic_partition_list_t *parts;
    const char *prefix = getenv("HS_TOPIC_PREFIX");
    char topic[128], errstr[256];
    int32_t cnt = 0, part;
    int64_t lo, hi;
    struct agent_channel *ch;

    snprintf(topic, sizeof(topic), "%s%s", prefix ? prefix : "", "hs.me");
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "hs-agent", NULL, 0) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", NULL, 0) ||
        hs_kafka_conf_opts(conf, getenv("HS_KAFKA_OPTS") ?
                                     getenv("HS_KAFKA_OPTS") : "",
                           err, errlen) != HS_OK) {
        if (!*err)
            snprintf(err, errlen, "bad Kafka settings: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return HS_ERR_CONFIG;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        snprintf(err, errlen, "cannot create a Kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return HS_ERR_CONFIG;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        cnt = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (cnt <= 0) {
        snprintf(err, errlen, "cannot read the me-channel topic %s from %s "
                 "(is Kafka reachable?)", topic, brokers);
        rd_kafka_destroy(rk);
        return HS_ERR_TRANSIENT;
    }
    /* The same partition the broadcaster's murmur2_random picks. */
    part = rd_kafka_msg_partitioner_murmur2_random(NULL, user_id,
                                                   strlen(user_id), cnt,
                                                   NULL, NULL);
    if (rd_kafka_query_watermark_offsets(rk, topic, part, &lo, &hi, 10000)) {
        snprintf(err, errlen, "cannot read the me-channel offsets");
        rd_kafka_destroy(rk);
        return HS_ERR_TRANSIENT;
    }
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, part)->offset = hi;
    if (rd_kafka_assign(rk, parts)) {
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy(rk);
        snprintf(err, errlen, "cannot assign the me-channel partition");
        return HS_ERR_TRANSIENT;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    ch = calloc(1, sizeof(*ch));
    if (!ch) {
        rd_kafka_destroy(rk);
        return HS_ERR_NOMEM;
    }
    ch->rk = rk;
    *out = ch;
    return HS_OK;
}

enum hs_err agent_channel_next(struct agent_channel *ch, int timeout_ms,
                               struct hs_event *ev)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ch->rk, timeout_ms);
    enum hs_err rc;

    if (!m)
        return HS_ERR_TIMEOUT;
    if (m->err) {
        rd_kafka_message_destroy(m);
        return HS_ERR_TIMEOUT;
    }
    rc = hs_event_decode(m->payload, m->len, ev);
    rd_kafka_message_destroy(m);
    return rc;
}

void agent_channel_free(struct agent_channel *ch)
{
    if (!ch)
        return;
    rd_kafka_assign(ch->rk, NULL);
    rd_kafka_consumer_close(ch->rk);
    rd_kafka_destroy(ch->rk);
    free(ch);
}

enum hs_err agent_token_take(json_t *o, struct agent_token *out)
{
    json_t *atv = json_object_get(o, "access_token");
    const char *at = json_string_value(atv);
    const char *tt = json_string_value(json_object_get(o, "token_type"));
    json_t *scv = json_object_get(o, "scopes");
    const char *sc = json_string_value(scv);
    json_t *exp = json_object_get(o, "expires_at");
    enum hs_err rc = HS_ERR_DECODE;

    if (json_is_object(o) && at && *at &&
        strlen(at) < sizeof(out->access_token) && tt &&
        strlen(tt) < sizeof(out->token_type) &&
        (!scv || (sc && strlen(sc) < sizeof(out->scopes))) &&
        (!exp || json_is_integer(exp))) {
        memset(out, 0, sizeof(*out));
        memcpy(out->access_token, at, strlen(at) + 1);
        memcpy(out->token_type, tt, strlen(tt) + 1);
        if (sc)
            memcpy(out->scopes, sc, strlen(sc) + 1);
        out->expires_at = exp ? json_integer_value(exp) : 0;
        rc = HS_OK;
    }
    /* jansson frees without wiping: clear the copy it holds. Its buffer is
     * jansson's own malloc'd memory and nothing reads it after this. */
    if (at)
        hs_wipe((char *)at, json_string_length(atv));
    return rc;
}

enum agent_outcome agent_channel_handle(const struct hs_event *ev,
                                        const char *agent_id,
                                        const char *provider,
                                        const struct agent_keys *keys,
                                        struct agent_token *tok, char *error,
                                        size_t errlen)
{
    unsigned char *pt;
    size_t ptlen;
    json_t *o;
    enum agent_outcome out = AGENT_IGNORE;

    if (strcmp(ev->agent_id, agent_id) != 0 ||
        strcmp(ev->provider, provider) != 0 || ev->box_len == 0)
        return AGENT_IGNORE;
    pt = malloc(ev->box_len);
    if (!pt)
        return AGENT_IGNORE;
    if (hs_box_open(keys->pk, keys->sk, ev->box, ev->box_len, pt, ev->box_len,
                    &ptlen) != HS_OK) {
        free(pt);
        return AGENT_IGNORE;
    }
    o = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL);
    hs_wipe(pt, ev->box_len);
    free(pt);
    if (!json_is_object(o)) {
        json_decref(o);
        return AGENT_IGNORE;
    }
    if (ev->type == HS_EV_TOKEN_ISSUED || ev->type == HS_EV_TOKEN_REFRESHED) {
        if (agent_token_take(o, tok) == HS_OK)
            out = AGENT_CONNECTED;
    } else if (ev->type == HS_EV_CONNECT_FAILED) {
        const char *e = json_string_value(json_object_get(o, "error"));
        const char *d = json_string_value(json_object_get(o, "error_description"));

        snprintf(error, errlen, "%s%s%s", e && *e ? e : ev->error,
                 d && *d ? ": " : "", d && *d ? d : "");
        out = AGENT_FAILED;
    } else if (ev->type == HS_EV_PROVIDER_DISCONNECTED) {
        out = AGENT_DISCONNECTED;
    } else if (ev->type == HS_EV_REAUTH_REQUIRED) {
        /* The error fields are optional: "{}" is a valid box. */
        const char *e = json_string_value(json_object_get(o, "error"));
        const char *d =
            json_string_value(json_object_get(o, "error_description"));

        if (!e)
            e = "";
        if (!d)
            d = "";
        snprintf(error, errlen, "%s%s%s", e, *e && *d ? ": " : "", d);
        out = AGENT_REAUTH;
    }
    json_decref(o);
    return out;
}
