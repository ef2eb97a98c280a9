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
    "HS_PROVIDERS", "HS_REQUESTERS", "HS_ENV_ROUTES", "HS_AUTH_ORIGIN",
    "HS_RELAY_URL",
    "HS_SIGNIN_PROVIDER",
    "HS_STATE_TTL", "HS_AUTH_CODE_TTL", "HS_HTTP_TIMEOUT_MS",
    "HS_REFRESH_AHEAD", "HS_REFRESH_RETRY", "HS_REFRESH_ATTEMPTS",
    "HS_KAFKA_TIMEOUT_MS", "HS_THREADS", "HS_LONGPOLL_MAX", "HS_INSECURE_HTTP",
    "HS_LOG_LEVEL"};

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
        {"HS_LONGPOLL_MAX", "0"},
        {"HS_INSECURE_HTTP", "2"}, {"HS_INSECURE_HTTP", "yes"},
        {"HS_LOG_LEVEL", "loud"},
        {"HS_KAFKA_OPTS", "a"}, {"HS_KAFKA_OPTS", "=b"},
        {"HS_KAFKA_OPTS", "a="}, {"HS_KAFKA_OPTS", "a=b,"},
        {"HS_SIGNIN_PROVIDER", "git hub"},
        {"HS_SECRET_KEYS", "k1:notakey"},
        {"HS_TOPIC_PREFIX", "a\nb"},
        {"HS_ENV", "dev "}, {"HS_ENV", "d.v"},
        {"HS_PUBLIC_URL", "https://hs.example.com#f"},
        {"HS_PUBLIC_URL", "https://"}, {"HS_PUBLIC_URL", "hs.example.com"},
        {"HS_PUBLIC_URL", "HTTPS://hs.example.com"},
        {"HS_PUBLIC_URL", "https://hs.example.com:0"},
        {"HS_PUBLIC_URL", "https://hs.example.com:"},
        {"HS_PUBLIC_URL", "http://localhost.example.com"},
        {"HS_LISTEN", "127.0.0.1:"}, {"HS_LISTEN", "[::1]"},
        {"HS_LISTEN", "a b:80"}, {"HS_LISTEN", "127.0.0.1:-1"},
        {"HS_LISTEN", "127.0.0.1:80x"},
        {"HS_STATE_TTL", "-1"}, {"HS_STATE_TTL", "+5"},
        {"HS_STATE_TTL", "99999999999999999999"}, {"HS_STATE_TTL", "5 "},
        {"HS_AUTH_CODE_TTL", "0"}, {"HS_KAFKA_TIMEOUT_MS", "60001"},
        {"HS_THREADS", "0"}, {"HS_INSECURE_HTTP", "01"},
        {"HS_LOG_LEVEL", "INFO"}, {"HS_KAFKA_OPTS", ",a=b"},
        {"HS_KAFKA_OPTS", "a=b,,c=d"},
        {"HS_ENV_ROUTES", "qa"}, {"HS_ENV_ROUTES", "qa="},
        {"HS_ENV_ROUTES", "=https://qa.example"},
        {"HS_ENV_ROUTES", "QA=https://qa.example"},
        {"HS_ENV_ROUTES", "qa=https://qa.example/path"},
        {"HS_ENV_ROUTES", "qa=http://qa.example"},
        {"HS_ENV_ROUTES", "qa=https://qa.example,"},
        {"HS_ENV_ROUTES", "qa=https://a.example,qa=https://b.example"},
        {"HS_ENV_ROUTES", "0123456789012345678901234567890123=https://a.ex"},
        {"HS_AUTH_ORIGIN", "https://auth.example/cb"},
        {"HS_AUTH_ORIGIN", "http://auth.example"},
        {"HS_RELAY_URL", "http://app:8080/hooks"},
        {"HS_RELAY_URL", "ftp://app"},
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

static void test_env_routes(void **st)
{
    static struct hs_config cfg;
    char err[300], url[256];
    (void)st;

    setenv("HS_ENV_ROUTES", "qa=https://qa.example:8443,q=https://q.example,"
                            "pr-12=http://127.0.0.1:9000", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    assert_true(hs_config_env_route(&cfg, "qa", url, sizeof(url)));
    assert_string_equal(url, "https://qa.example:8443");
    assert_true(hs_config_env_route(&cfg, "q", url, sizeof(url)));
    assert_string_equal(url, "https://q.example");
    assert_true(hs_config_env_route(&cfg, "pr-12", url, sizeof(url)));
    assert_string_equal(url, "http://127.0.0.1:9000");
    assert_false(hs_config_env_route(&cfg, "dev", url, sizeof(url)));
    assert_false(hs_config_env_route(&cfg, "qa.", url, sizeof(url)));
    assert_false(hs_config_env_route(&cfg, "qa", url, 10)); /* too small */
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

struct need {
    unsigned bit;
    const char *name;
};

/* Each need bit makes exactly its variable required. */
static void test_each_need_bit_requires_its_variable(void **st)
{
    static const struct need needs[] = {
        {HS_NEED_KAFKA, "HS_KAFKA_BROKERS"}, {HS_NEED_PG, "HS_PG_URL"},
        {HS_NEED_KEYS, "HS_SECRET_KEYS"},
        {HS_NEED_PUBLIC_URL, "HS_PUBLIC_URL"},
        {HS_NEED_PROVIDERS, "HS_PROVIDERS"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
        static struct hs_config cfg, poison;
        char err[300] = "";

        clean_env(NULL);
        unsetenv(needs[i].name);
        memset(&poison, 0xAB, sizeof(poison));
        cfg = poison;
        assert_int_equal(hs_config_load(&cfg, ALL & ~needs[i].bit, err,
                                        sizeof(err)), HS_OK);
        cfg = poison;
        assert_int_equal(hs_config_load(&cfg, needs[i].bit, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_memory_equal(&cfg, &poison, sizeof(cfg));
        assert_int_equal(strncmp(err, needs[i].name, strlen(needs[i].name)),
                         0);
        setenv(needs[i].name, "", 1); /* empty is not set */
        assert_int_equal(hs_config_load(&cfg, needs[i].bit, err, sizeof(err)),
                         HS_ERR_CONFIG);
    }
}

static void test_every_default_with_nothing_set(void **st)
{
    static struct hs_config cfg;
    char err[300];
    (void)st;

    for (size_t i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
        unsetenv(all_vars[i]);
    assert_int_equal(hs_config_load(&cfg, 0, err, sizeof(err)), HS_OK);
    assert_string_equal(cfg.env, "dev");
    assert_string_equal(cfg.public_url, "");
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.brokers, "");
    assert_string_equal(cfg.kafka_opts, "");
    assert_string_equal(cfg.topic_prefix, "");
    assert_string_equal(cfg.pg_url, "");
    assert_string_equal(cfg.secret_keys, "");
    assert_string_equal(cfg.signin_provider, "");
    assert_int_equal(cfg.state_ttl_s, 600);
    assert_int_equal(cfg.code_ttl_s, 600);
    assert_int_equal(cfg.http_timeout_ms, 10000);
    assert_int_equal(cfg.kafka_timeout_ms, 5000);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.insecure_http, 0);
    assert_int_equal(cfg.log_level, HS_LOG_INFO);
}

static void test_good_values_are_taken_whole(void **st)
{
    static struct hs_config cfg;
    char err[300];
    (void)st;

    setenv("HS_ENV", "prod-2", 1);
    setenv("HS_PUBLIC_URL", "https://hs.example.com:8443", 1);
    setenv("HS_LISTEN", "[::1]:0", 1);
    setenv("HS_KAFKA_OPTS", "fetch.wait.max.ms=5,linger.ms=0", 1);
    setenv("HS_STATE_TTL", "1", 1);
    setenv("HS_AUTH_CODE_TTL", "600", 1);
    setenv("HS_HTTP_TIMEOUT_MS", "60000", 1);
    setenv("HS_THREADS", "64", 1);
    setenv("HS_LOG_LEVEL", "debug", 1);
    setenv("HS_SECRET_KEYS",
           KEYS ",old:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    assert_string_equal(cfg.env, "prod-2");
    assert_string_equal(cfg.public_url, "https://hs.example.com:8443");
    assert_string_equal(cfg.listen, "[::1]:0");
    assert_string_equal(cfg.kafka_opts, "fetch.wait.max.ms=5,linger.ms=0");
    assert_int_equal(cfg.state_ttl_s, 1);
    assert_int_equal(cfg.http_timeout_ms, 60000);
    assert_int_equal(cfg.threads, 64);
    assert_int_equal(cfg.log_level, HS_LOG_DEBUG);
    assert_string_equal(cfg.pg_url, "host=/tmp dbname=x password=hunter2");
}

/* Bad keyrings name HS_SECRET_KEYS; bad conninfo names HS_PG_URL; neither
 * value appears in err. */
static void test_bad_secret_values_are_named_not_echoed(void **st)
{
    static const char *const keys[] = {
        "hunter2", "k1:hunter2hunter2hunter2hunter2hunter2hunter",
        "k1:hunter2hunter2hunter2hunter2hunter2hunter2=",
        "k1:" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,k2:hunter2",
        "k1:" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,",
        "hunter2\nx",
    };
    (void)st;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        static struct hs_config cfg;
        char err[300] = "";

        clean_env(NULL);
        setenv("HS_SECRET_KEYS", keys[i], 1);
        assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_int_equal(strncmp(err, "HS_SECRET_KEYS", 14), 0);
        assert_null(strstr(err, "hunter2"));
        assert_null(strstr(err, "AAAAAA"));
    }
    clean_env(NULL);
    setenv("HS_PG_URL", "host=/tmp password=hunter2\x01", 1);
    {
        static struct hs_config cfg;
        char err[300] = "";

        assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)),
                         HS_ERR_CONFIG);
        assert_int_equal(strncmp(err, "HS_PG_URL", 9), 0);
        assert_null(strstr(err, "hunter2"));
    }
}

static void test_topic_name_fits_exactly_or_not_at_all(void **st)
{
    static struct hs_config cfg;
    char err[300], buf[32];
    (void)st;

    setenv("HS_TOPIC_PREFIX", "ci-7.", 1);
    assert_int_equal(hs_config_load(&cfg, ALL, err, sizeof(err)), HS_OK);
    /* "ci-7.hs.callbacks" is 17 chars: 18 bytes fit, 17 do not. */
    assert_string_equal(hs_config_topic(&cfg, HS_TOPIC_CALLBACKS, buf, 18),
                        "ci-7.hs.callbacks");
    assert_null(hs_config_topic(&cfg, HS_TOPIC_CALLBACKS, buf, 17));
    assert_string_equal(hs_config_topic(&cfg, HS_TOPIC_DLQ, buf, sizeof(buf)),
                        "ci-7.hs.dlq");
}

static void test_error_is_one_line_whatever_the_value(void **st)
{
    static struct hs_config cfg;
    char err[300];
    (void)st;

    clean_env(NULL);
    setenv("HS_LOG_LEVEL", "loud\nHS_FAKE: forged line", 1);
    assert_int_equal(hs_config_load(&cfg, 0, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_null(strchr(err, '\n'));
    clean_env(NULL);
    setenv("HS_KAFKA_OPTS", "sasl.password", 1); /* may hold a secret */
    assert_int_equal(hs_config_load(&cfg, 0, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_null(strstr(err, "sasl.password"));
    clean_env(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_is_one_line_whatever_the_value),
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_env_routes, clean_env),
        cmocka_unit_test_setup(test_bad_values_are_refused_naming_the_variable,
                               clean_env),
        cmocka_unit_test_setup(test_secrets_are_never_echoed, clean_env),
        cmocka_unit_test_setup(test_required_follow_the_need_bits, clean_env),
        cmocka_unit_test_setup(
            test_plain_http_only_for_loopback_or_when_allowed, clean_env),
        cmocka_unit_test_setup(test_each_need_bit_requires_its_variable,
                               clean_env),
        cmocka_unit_test_setup(test_every_default_with_nothing_set,
                               clean_env),
        cmocka_unit_test_setup(test_good_values_are_taken_whole, clean_env),
        cmocka_unit_test_setup(test_bad_secret_values_are_named_not_echoed,
                               clean_env),
        cmocka_unit_test_setup(test_topic_name_fits_exactly_or_not_at_all,
                               clean_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
