/* Unit tests of lib/hs_config: every variable's validation, defaults,
 * required settings, secrets never echoed, cfg untouched on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hs_config.h"

#define KEYS "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char *const all_vars[] = {
    "HS_ENV", "HS_PUBLIC_URL", "HS_LISTEN", "HS_KAFKA_BROKERS",
    "HS_KAFKA_OPTS", "HS_TOPIC_PREFIX", "HS_PG_URL", "HS_SECRET_KEYS",
    "HS_PROVIDERS", "HS_REQUESTERS", "HS_ENV_ROUTES", "HS_SIGNIN_PROVIDER",
    "HS_STATE_TTL", "HS_AUTH_CODE_TTL", "HS_HTTP_TIMEOUT_MS",
    "HS_KAFKA_TIMEOUT_MS", "HS_THREADS", "HS_INSECURE_HTTP", "HS_LOG_LEVEL"};

static int clean_env(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
        unsetenv(all_vars[i]);
    setenv("HS_KAFKA_BROKERS", "127.0.0.1:9092", 1);
    setenv("HS_PG_URL", "host=/tmp dbname=x password=hunter2", 1);
    setenv("HS_SECRET_KEYS", KEYS, 1);
    setenv("HS_PUBLIC_URL", "https://hs.example.com", 1);
    setenv("HS_PROVIDERS", "/etc/p.json", 1);
    return 0;
}

static const unsigned ALL = HS_NEED_KAFKA | HS_NEED_PG | HS_NEED_KEYS |
                            HS_NEED_PUBLIC_URL | HS_NEED_PROVIDERS;

static void test_defaults(void **st)
{
    static struct hs_config cfg;
    char err[300];
    char buf[64];
    (void)st;

    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    assert_string_equal(cfg.env, "dev");
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.state_ttl_s, 600);
    assert_int_equal(cfg.kafka_timeout_ms, 5000);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.insecure_http, 0);
    assert_int_equal(cfg.log_level, HS_LOG_INFO);
    assert_string_equal(hs_config_topic(&cfg, HS_TOPIC_ME, buf, sizeof(buf)),
                        "hs.me");
    setenv("HS_TOPIC_PREFIX", "t1-", 1);
    setenv("HS_STATE_TTL", "", 1); /* empty = unset = default */
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    assert_int_equal(cfg.state_ttl_s, 600);
    assert_string_equal(hs_config_topic(&cfg, HS_TOPIC_ME, buf, sizeof(buf)),
                        "t1-hs.me");
    assert_null(hs_config_topic(&cfg, HS_TOPIC_ME, buf, 5));
}

struct bad {
    const char *name, *value;
};

static void test_bad_values_are_refused_naming_the_variable(void **st)
{
    static const struct bad bad[] = {
        {"HS_ENV", "Dev"}, {"HS_ENV", "a_b"},
        {"HS_ENV", "0123456789012345678901234567890123"},
        {"HS_PUBLIC_URL", "https://hs.example.com/"},
        {"HS_PUBLIC_URL", "https://hs.example.com/path"},
        {"HS_PUBLIC_URL", "https://hs.example.com?x=1"},
        {"HS_PUBLIC_URL", "https://u:p@hs.example.com"},
        {"HS_PUBLIC_URL", "ftp://hs.example.com"},
        {"HS_PUBLIC_URL", "http://hs.example.com"},
        {"HS_PUBLIC_URL", "https://hs.example.com:99999"},
        {"HS_LISTEN", "127.0.0.1"}, {"HS_LISTEN", "127.0.0.1:70000"},
        {"HS_LISTEN", ":80"},
        {"HS_STATE_TTL", "0"}, {"HS_STATE_TTL", "601"},
        {"HS_STATE_TTL", "6x"}, {"HS_STATE_TTL", " 5"},
        {"HS_THREADS", "65"}, {"HS_HTTP_TIMEOUT_MS", "99"},
        {"HS_INSECURE_HTTP", "2"}, {"HS_INSECURE_HTTP", "yes"},
        {"HS_LOG_LEVEL", "loud"},
        {"HS_KAFKA_OPTS", "a"}, {"HS_KAFKA_OPTS", "=b"},
        {"HS_KAFKA_OPTS", "a="}, {"HS_KAFKA_OPTS", "a=b,"},
        {"HS_SIGNIN_PROVIDER", "git hub"},
        {"HS_SECRET_KEYS", "k1:notakey"},
        {"HS_TOPIC_PREFIX", "a\nb"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static struct hs_config cfg, poison;
        char err[300] = "";

        clean_env(NULL);
        setenv(bad[i].name, bad[i].value, 1);
        memset(&poison, 0xAB, sizeof(poison));
        cfg = poison;
        if (hs_config_load(&cfg, ALL, err, sizeof(err)) != HS_ERR_CONFIG)
            fail_msg("%s=\"%s\" was accepted", bad[i].name, bad[i].value);
        assert_memory_equal(&cfg, &poison, sizeof(cfg));
        assert_int_equal(strncmp(err, bad[i].name, strlen(bad[i].name)), 0);
    }
}

static void test_secrets_are_never_echoed(void **st)
{
    static struct hs_config cfg;
    char err[300];
    char big[1100];
    (void)st;

    setenv("HS_SECRET_KEYS", "k1:hunter2hunter2", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_null(strstr(err, "hunter2"));
    clean_env(NULL);
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "password=", 9);
    setenv("HS_PG_URL", big, 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_PG_URL"));
    assert_null(strstr(err, "password"));
}

static void test_required_follow_the_need_bits(void **st)
{
    static struct hs_config cfg;
    char err[300];
    (void)st;

    unsetenv("HS_PUBLIC_URL");
    unsetenv("HS_PROVIDERS");
    assert_int_equal(hs_config_load(&cfg, HS_NEED_KAFKA | HS_NEED_PG |
                                              HS_NEED_KEYS,
                                    err, sizeof(err)), HS_OK);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_PUBLIC_URL: required"));
    clean_env(NULL);
    unsetenv("HS_KAFKA_BROKERS");
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "HS_KAFKA_BROKERS"));
}

static void test_plain_http_only_for_loopback_or_when_allowed(void **st)
{
    static struct hs_config cfg;
    char err[300];
    (void)st;

    setenv("HS_PUBLIC_URL", "http://127.0.0.1:8080", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    setenv("HS_PUBLIC_URL", "http://[::1]:8080", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    setenv("HS_PUBLIC_URL", "http://dev.internal:8080", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                     HS_ERR_CONFIG);
    setenv("HS_INSECURE_HTTP", "1", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    assert_int_equal(cfg.insecure_http, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_bad_values_are_refused_naming_the_variable,
                               clean_env),
        cmocka_unit_test_setup(test_secrets_are_never_echoed, clean_env),
        cmocka_unit_test_setup(test_required_follow_the_need_bits, clean_env),
        cmocka_unit_test_setup(
            test_plain_http_only_for_loopback_or_when_allowed, clean_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
