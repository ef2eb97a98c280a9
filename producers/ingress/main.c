/*
 * hs-ingress: parses argv, loads the configuration, wires the keyring,
 * catalog, Kafka producer, PostgreSQL pool and HTTP daemon, and waits for
 * SIGTERM/SIGINT. Request handling lives in ingress_*.c.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hs_discovery.h"
#include "hs_http.h"
#include "hs_log.h"
#include "ingress_http.h"

static volatile sig_atomic_t running = 1;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: hs-ingress [--help] [--check-config] [--routes]\n"
                 "The thin HTTP ingress of handshake; configured by the "
                 "environment.\n--routes prints the routes it serves "
                 "(METHOD /template), one a line.\n\n");
    hs_config_print_help(out);
}

int main(int argc, char **argv)
{
    static struct hs_config cfg;
    static struct hs_requesters requesters;
    struct ingress in;
    struct hs_catalog cat = {0};
    struct hs_keyring *kr = NULL;
    struct hs_pg *pg = NULL;
    char err[512];
    uint16_t port = 0;
    int check_only = 0, rc = 1;
    struct sigaction sa;
    const unsigned need = HS_NEED_KAFKA | HS_NEED_PG | HS_NEED_KEYS |
                          HS_NEED_PUBLIC_URL | HS_NEED_PROVIDERS;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "--routes") == 0) {
            ingress_http_print_routes(stdout);
            return 0;
        } else {
            fprintf(stderr, "hs-ingress: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (hs_crypto_init() != 0) {
        fprintf(stderr, "hs-ingress: cannot initialise libsodium\n");
        return 1;
    }
    if (hs_config_load(&cfg, need, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-ingress: %s\n", err);
        return 2;
    }
    hs_log_init("hs-ingress", cfg.log_level);
    if (hs_keyring_new(cfg.secret_keys, &kr, err, sizeof(err)) != HS_OK ||
        hs_requesters_parse(cfg.requesters, &requesters, err, sizeof(err)) !=
            HS_OK ||
        hs_catalog_load(cfg.providers, cfg.insecure_http, &cat, err,
                        sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-ingress: %s\n", err);
        hs_keyring_free(kr);
        return 2;
    }
    if (hs_http_global_init() != HS_OK ||
        hs_catalog_discover(&cat, cfg.insecure_http, cfg.http_timeout_ms, err,
                            sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-ingress: %s\n", err);
        rc = 2;
        goto out;
    }
    if (cfg.signin_provider[0] &&
        (!hs_catalog_find(&cat, cfg.signin_provider) ||
         !hs_catalog_find(&cat, cfg.signin_provider)->signin)) {
        fprintf(stderr,
                "hs-ingress: HS_SIGNIN_PROVIDER: \"%s\" is not a provider "
                "of the catalog marked \"signin\"\n",
                cfg.signin_provider);
        rc = 2;
        goto out;
    }
    for (size_t i = 0; i < cat.n && !cfg.auth_origin[0]; i++) {
        if (cat.v[i].use_auth_origin) {
            fprintf(stderr, "hs-ingress: HS_AUTH_ORIGIN: required by "
                            "provider \"%s\" (use_auth_origin)\n",
                    cat.v[i].name);
            rc = 2;
            goto out;
        }
    }
    if (check_only) {
        printf("configuration ok\n");
        rc = 0;
        goto out;
    }
    /* Installed before anything starts, so a SIGTERM during start-up
     * still ends in the orderly shutdown below. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    {
        /* Each long poll holds a socket: take every descriptor allowed. */
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    memset(&in, 0, sizeof(in));
    in.cfg = &cfg;
    in.kr = kr;
    in.cat = &cat;
    in.requesters = &requesters;
    in.https = strncmp(cfg.public_url, "https://", 8) == 0;
    if (hs_pg_new(cfg.pg_url, &pg, err, sizeof(err)) != HS_OK ||
        hs_pg_migrate(pg, err, sizeof(err)) != HS_OK) {
        hs_log(HS_LOG_ERROR, "ingress.start_failed", HS_KV_STR("reason", err));
        goto out;
    }
    hs_pg_free(pg);
    pg = NULL;
    if (hs_pg_pool_new(cfg.pg_url,
                       cfg.threads * INGRESS_POOL_PER_THREAD, &in.pool, err,
                       sizeof(err)) != HS_OK ||
        hs_kafka_producer_new(&cfg, &in.producer, err, sizeof(err)) != HS_OK ||
        hs_auditor_new(&cfg, kr, "hs-ingress", in.producer, &in.audit) !=
            HS_OK ||
        ingress_waits_start(cfg.pg_url, (size_t)cfg.longpoll_max, &in.waits,
                            err, sizeof(err)) != HS_OK) {
        hs_log(HS_LOG_ERROR, "ingress.start_failed", HS_KV_STR("reason", err));
        goto out_services;
    }
    if (ingress_http_start(&in, &port, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-ingress: %s\n", err);
        rc = 2;
        goto out_services;
    }
    hs_log(HS_LOG_INFO, "ingress.listening", HS_KV_INT("port", port),
           HS_KV_STR("env", cfg.env));
    while (running) {
        struct timespec ts = {0, 100 * 1000 * 1000};

        nanosleep(&ts, NULL);
        hs_audit_flush(in.audit);
    }
    hs_log(HS_LOG_INFO, "ingress.stopping");
    ingress_http_stop(&in);
    rc = 0;
out_services:
    ingress_waits_stop(in.waits); /* when the daemon did not start */
    ingress_waits_free(in.waits);
    hs_auditor_free(in.audit);
    hs_kafka_producer_free(in.producer);
    hs_pg_pool_free(in.pool);
out:
    hs_pg_free(pg);
    hs_catalog_cleanup(&cat);
    hs_keyring_free(kr);
    return rc;
}
