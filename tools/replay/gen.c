/*
 * hs-replay-gen: produces N signed audit events (P producers, each with
 * its own seq from 1) to HS_TOPIC_PREFIX + hs.audit, for the replay
 * benchmark. Keys: HS_SECRET_KEYS (the active one signs).
 *
 *   hs-replay-gen --brokers B --events N [--producers P]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_audit.h"
#include "hs_kafka.h"
#include "hs_log.h"

int main(int argc, char **argv)
{
    static struct hs_config cfg;
    struct hs_keyring *kr = NULL;
    struct hs_kafka_producer *p = NULL;
    struct hs_event *ev = malloc(sizeof(*ev));
    unsigned char pk[32], sk[64];
    const char *brokers = NULL, *prefix = getenv("HS_TOPIC_PREFIX");
    const char *opts = getenv("HS_KAFKA_OPTS");
    long n = 0, producers = 4;
    char err[256], topic[128];
    msgpack_sbuffer sb;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--brokers") == 0)
            brokers = argv[i + 1];
        else if (strcmp(argv[i], "--events") == 0)
            n = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--producers") == 0)
            producers = strtol(argv[i + 1], NULL, 10);
    }
    if (!brokers || n < 1 || producers < 1 || !ev ||
        !getenv("HS_SECRET_KEYS")) {
        fprintf(stderr, "usage: hs-replay-gen --brokers B --events N "
                        "[--producers P] (HS_SECRET_KEYS set)\n");
        free(ev);
        return 2;
    }
    hs_log_init("hs-replay-gen", HS_LOG_WARN);
    if (hs_crypto_init() != 0 ||
        hs_keyring_new(getenv("HS_SECRET_KEYS"), &kr, err, sizeof(err)) !=
            HS_OK ||
        hs_audit_keypair(kr, NULL, pk, sk) != HS_OK) {
        fprintf(stderr, "hs-replay-gen: %s\n", err);
        free(ev);
        return 2;
    }
    snprintf(cfg.brokers, sizeof(cfg.brokers), "%s", brokers);
    snprintf(cfg.kafka_opts, sizeof(cfg.kafka_opts), "%s",
             opts ? opts : "");
    snprintf(cfg.env, sizeof(cfg.env), "bench");
    cfg.kafka_timeout_ms = 60000;
    snprintf(topic, sizeof(topic), "%shs.audit", prefix ? prefix : "");
    if (hs_kafka_producer_new(&cfg, &p, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-replay-gen: %s\n", err);
        hs_keyring_free(kr);
        free(ev);
        return 1;
    }
    msgpack_sbuffer_init(&sb);
    for (long i = 0; i < n; i++) {
        char user[32];
        enum hs_err rc;

        hs_event_init(ev, HS_EV_AUDIT, "bench", hs_now_ms());
        snprintf(ev->svc, sizeof(ev->svc), "hs-bench/p%ld", i % producers);
        ev->seq = i / producers + 1;
        snprintf(ev->action, sizeof(ev->action), "exchange.succeeded");
        snprintf(ev->outcome, sizeof(ev->outcome), "ok");
        snprintf(ev->handshake_id, sizeof(ev->handshake_id), "h%ld", i);
        snprintf(user, sizeof(user), "user%ld", i % 1000);
        snprintf(ev->user_id, sizeof(ev->user_id), "%s", user);
        snprintf(ev->provider, sizeof(ev->provider), "github");
        snprintf(ev->client_ip, sizeof(ev->client_ip), "203.0.113.7");
        snprintf(ev->fingerprint, sizeof(ev->fingerprint), "AbCdEfGhIjKlMnOp");
        msgpack_sbuffer_clear(&sb);
        if (hs_audit_sign(ev, hs_keyring_active_kid(kr), sk) != HS_OK ||
            hs_event_encode(ev, &sb) != HS_OK)
            return 1;
        while ((rc = hs_kafka_produce(p, topic, user, strlen(user), sb.data,
                                      sb.size)) == HS_ERR_TRANSIENT)
            if (hs_kafka_flush(p, 60000) != HS_OK)
                return 1;
        if (rc != HS_OK)
            return 1;
        if (i % 100000 == 99999 && hs_kafka_flush(p, 60000) != HS_OK)
            return 1;
    }
    if (hs_kafka_flush(p, 60000) != HS_OK)
        return 1;
    msgpack_sbuffer_destroy(&sb);
    hs_kafka_producer_free(p);
    hs_keyring_free(kr);
    free(ev);
    printf("produced %ld events from %ld producers\n", n, producers);
    return 0;
}
