/*
 * hs_config: the environment of every handshake program, read once.
 *
 * Settings are rows of one table (name, type, bounds, default, secret); the
 * README's table of variables is checked against it by a test
 * (hs_config_table). hs_config_load() parses the whole value of every
 * variable, range-checks it, never clamps, then applies cross-field rules.
 * A program passes the HS_NEED_* bits of the settings it cannot run
 * without; a missing required one is an error naming the variable.
 *
 * The struct is immutable after load and passed down by const pointer.
 * Secret values (HS_PG_URL, HS_SECRET_KEYS) are never printed: the dump
 * shows "[redacted]".
 */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "hs_err.h"
#include "hs_log.h"

/* Bits for hs_config_load's need argument. */
#define HS_NEED_KAFKA 0x01u      /* HS_KAFKA_BROKERS */
#define HS_NEED_PG 0x02u         /* HS_PG_URL */
#define HS_NEED_KEYS 0x04u       /* HS_SECRET_KEYS */
#define HS_NEED_PUBLIC_URL 0x08u /* HS_PUBLIC_URL */
#define HS_NEED_PROVIDERS 0x10u  /* HS_PROVIDERS */
#define HS_NEED_RELAY_URL 0x20u  /* HS_RELAY_URL */

struct hs_config {
    char env[32];             /* HS_ENV, [a-z0-9-]{1,31}, default "dev" */
    char public_url[256];     /* HS_PUBLIC_URL, http(s)://host[:port], no
                                 trailing slash, no path/query/fragment */
    char listen[64];          /* HS_LISTEN host:port, default 127.0.0.1:8080 */
    char brokers[512];        /* HS_KAFKA_BROKERS */
    char kafka_opts[1024];    /* HS_KAFKA_OPTS "k=v,k=v" extra librdkafka
                                 properties (hs-dev: fetch.wait.max.ms=5) */
    char topic_prefix[64];    /* HS_TOPIC_PREFIX, default "" */
    char pg_url[1024];        /* HS_PG_URL (secret) */
    char secret_keys[1024];   /* HS_SECRET_KEYS "kid:base64url(32B),..."
                                 first is active (secret) */
    char providers[512];      /* HS_PROVIDERS path of the catalog (JSON) */
    char requesters[2048];    /* HS_REQUESTERS (hs_requesters.h) */
    char env_routes[2048];    /* HS_ENV_ROUTES "env=url,...": where the
                                 callbacks of other environments go */
    char metrics_listen[64];  /* HS_METRICS_LISTEN host:port or "" (workers'
                                 /metrics port; 0 = any, logged) */
    char relay_url[256];      /* HS_RELAY_URL http(s)://host[:port]: where
                                 hs-relay delivers webhooks */
    char auth_origin[256];    /* HS_AUTH_ORIGIN, as public_url, or "": the
                                 callback base of use_auth_origin providers */
    char signin_provider[32]; /* HS_SIGNIN_PROVIDER */
    int state_ttl_s;          /* HS_STATE_TTL seconds, 1..600, default 600 */
    int code_ttl_s;           /* HS_AUTH_CODE_TTL seconds, 1..600, def 600 */
    int http_timeout_ms;      /* HS_HTTP_TIMEOUT_MS 100..60000, def 10000 */
    int exchange_attempts;    /* HS_EXCHANGE_ATTEMPTS 1..10, default 3:
                                 token calls per code exchange (first and
                                 retries after transient failures) */
    int exchange_stale_s;     /* HS_EXCHANGE_STALE 10..3600, default 120:
                                 a claim older is a dead worker's */
    int refresh_ahead_s;      /* HS_REFRESH_AHEAD 1..86400, default 300 */
    int refresh_retry_s;      /* HS_REFRESH_RETRY 1..3600, default 10 */
    int refresh_attempts;     /* HS_REFRESH_ATTEMPTS 1..100, default 8 */
    int kafka_timeout_ms;     /* HS_KAFKA_TIMEOUT_MS 100..60000, def 5000:
                                 how long a produce waits for acks=all */
    int threads;              /* HS_THREADS 1..64, default 4 (ingress) */
    int longpoll_max;         /* HS_LONGPOLL_MAX 1..100000, default 20000 */
    int insecure_http;        /* HS_INSECURE_HTTP 0|1, default 0: allow
                                 http:// provider URLs and public URL
                                 (development and tests only) */
    enum hs_log_level log_level; /* HS_LOG_LEVEL, default info */
};

/* Loads every variable from the environment into *cfg. need is a mask of
 * HS_NEED_* bits. HS_OK fills *cfg; on failure *cfg is untouched and err
 * holds one line naming the variable, e.g.
 *   HS_STATE_TTL: expected an integer from 1 to 600, got "6x"
 * without ever echoing a secret value. */
enum hs_err hs_config_load(struct hs_config *cfg, unsigned need, char *err,
                           size_t errlen) HS_MUST_CHECK;

/* Writes the full name of topic base ("hs.callbacks") with the configured
 * prefix into buf. Returns buf, or NULL when it does not fit. */
const char *hs_config_topic(const struct hs_config *cfg, const char *base,
                            char *buf, size_t cap);

/* 1 with the base URL of environment env (HS_ENV_ROUTES) in url; 0 when
 * it has no route (or the URL does not fit in cap). */
int hs_config_env_route(const struct hs_config *cfg, const char *env,
                        char *url, size_t cap);

/* Prints the table of settings (name, default, meaning) for --help. */
void hs_config_print_help(FILE *out);

/* Topic base names (SPEC §4). */
#define HS_TOPIC_CALLBACKS "hs.callbacks"
#define HS_TOPIC_TOKENS "hs.tokens"
#define HS_TOPIC_ME "hs.me"
#define HS_TOPIC_AUDIT "hs.audit"
#define HS_TOPIC_DLQ "hs.dlq"
#define HS_TOPIC_WEBHOOKS "hs.webhooks"

#endif
