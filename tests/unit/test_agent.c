/* Unit tests of the agent's modules (agent/agent.h): the 0600 store and
 * the judgement of me-channel messages (SECURITY 31). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static char home[64];

static int make_home(void **st)
{
    char err[200], out[512];

    (void)st;
    snprintf(home, sizeof(home), "/tmp/hs-agent-test.XXXXXX");
    if (!mkdtemp(home))
        return -1;
    return agent_store_home(home, out, sizeof(out), err, sizeof(err)) ==
                   HS_OK
               ? 0
               : -1;
}

static int remove_home(void **st)
{
    (void)st;
    agent_store_clear(home);
    return rmdir(home);
}

static mode_t mode_of(const char *name)
{
    char path[600];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", home, name);
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 0777;
}

static void test_store_round_trip_with_private_modes(void **st)
{
    struct agent_config c, back;
    struct agent_keys k1, k2;
    struct agent_token t, tb;
    char err[600];
    (void)st;

    assert_int_equal(agent_store_load_config(home, &c, err, sizeof(err)),
                     HS_ERR_NOTFOUND);
    memset(&c, 0, sizeof(c));
    snprintf(c.server, sizeof(c.server), "%s", "http://127.0.0.1:8080");
    snprintf(c.api_token, sizeof(c.api_token), "%s", "hst_secret");
    snprintf(c.agent_id, sizeof(c.agent_id), "%s", "a1");
    snprintf(c.user_id, sizeof(c.user_id), "%s", "u1");
    {
        /* A leftover temp file must not decide the mode of the secret. */
        char tmp[600];
        FILE *f;

        snprintf(tmp, sizeof(tmp), "%s/config.json.tmp", home);
        f = fopen(tmp, "w");
        fclose(f);
        chmod(tmp, 0644);
    }
    assert_int_equal(agent_store_save_config(home, &c), HS_OK);
    assert_int_equal(agent_store_load_config(home, &back, err, sizeof(err)),
                     HS_OK);
    assert_memory_equal(&c, &back, sizeof(c));
    assert_int_equal(agent_store_keys(home, &k1, err, sizeof(err)), HS_OK);
    assert_int_equal(agent_store_keys(home, &k2, err, sizeof(err)), HS_OK);
    assert_memory_equal(&k1, &k2, sizeof(k1)); /* created once, then kept */
    memset(&t, 0, sizeof(t));
    snprintf(t.access_token, sizeof(t.access_token), "%s", "at");
    snprintf(t.token_type, sizeof(t.token_type), "%s", "Bearer");
    t.expires_at = 123;
    assert_int_equal(agent_store_save_token(home, "github", &t), HS_OK);
    assert_int_equal(agent_store_load_token(home, "github", &tb), HS_OK);
    assert_string_equal(tb.access_token, "at");
    assert_int_equal(tb.expires_at, 123);
    assert_int_equal(agent_store_load_token(home, "gitlab", &tb),
                     HS_ERR_NOTFOUND);
    assert_int_equal(agent_store_save_token(home, "../config", &t),
                     HS_ERR_INVALID); /* a file name, never a path */
    assert_int_equal(mode_of("."), 0700);
    assert_int_equal(mode_of("config.json"), 0600);
    assert_int_equal(mode_of("agent.key"), 0600);
    assert_int_equal(mode_of("tokens/github.json"), 0600);
    agent_store_clear(home);
    assert_int_equal(agent_store_load_config(home, &c, err, sizeof(err)),
                     HS_ERR_NOTFOUND);
    assert_int_equal(agent_store_load_token(home, "github", &tb),
                     HS_ERR_NOTFOUND);
}

static void test_damaged_files_are_errors_naming_the_file(void **st)
{
    struct agent_config c;
    struct agent_keys k;
    char err[600], path[600];
    FILE *f;
    (void)st;

    snprintf(path, sizeof(path), "%s/config.json", home);
    f = fopen(path, "w");
    fputs("{\"server\": 5}", f);
    fclose(f);
    assert_int_equal(agent_store_load_config(home, &c, err, sizeof(err)),
                     HS_ERR_DECODE);
    assert_non_null(strstr(err, "config.json"));
    snprintf(path, sizeof(path), "%s/agent.key", home);
    f = fopen(path, "w");
    fputs("{\"public_key\":\"AAAA\",\"secret_key\":\"AAAA\"}", f);
    fclose(f);
    assert_int_equal(agent_store_keys(home, &k, err, sizeof(err)),
                     HS_ERR_DECODE);
    assert_non_null(strstr(err, "agent.key"));
}

/* A me-channel event for agent a1 / provider github carrying json,
 * sealed to pk. */
static void me_event(struct hs_event *ev, enum hs_event_type type,
                     const unsigned char *pk, const char *json)
{
    size_t n;

    hs_event_init(ev, type, "dev", 1);
    snprintf(ev->user_id, sizeof(ev->user_id), "%s", "u1");
    snprintf(ev->agent_id, sizeof(ev->agent_id), "%s", "a1");
    snprintf(ev->provider, sizeof(ev->provider), "%s", "github");
    assert_int_equal(hs_box_seal(pk, json, strlen(json), ev->box,
                                 sizeof(ev->box), &n), HS_OK);
    ev->box_len = n;
}

static void test_channel_judges_messages(void **st)
{
    static struct hs_event ev;
    struct agent_keys mine, other;
    struct agent_token tok;
    char error[200];
    const char *good = "{\"access_token\":\"gho_x\",\"token_type\":\"Bearer\","
                       "\"expires_at\":99,\"scopes\":\"repo\"}";
    (void)st;

    hs_box_keypair(mine.pk, mine.sk);
    hs_box_keypair(other.pk, other.sk);
    me_event(&ev, HS_EV_TOKEN_ISSUED, mine.pk, good);
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)),
                     AGENT_CONNECTED);
    assert_string_equal(tok.access_token, "gho_x");
    assert_int_equal(tok.expires_at, 99);
    assert_int_equal(agent_channel_handle(&ev, "a2", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    assert_int_equal(agent_channel_handle(&ev, "a1", "gitlab", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    /* One agent cannot open another's messages. */
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &other, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    me_event(&ev, HS_EV_CONNECT_FAILED, mine.pk,
             "{\"error\":\"access_denied\",\"error_description\":\"no\"}");
    snprintf(ev.error, sizeof(ev.error), "%s", "access_denied");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_FAILED);
    assert_non_null(strstr(error, "access_denied"));
    me_event(&ev, HS_EV_TOKEN_ISSUED, mine.pk, "not json");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    me_event(&ev, HS_EV_TOKEN_ISSUED, mine.pk, "{\"token_type\":\"Bearer\"}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
}

static void test_channel_refreshed_is_connected(void **st)
{
    static struct hs_event ev;
    struct agent_keys mine;
    struct agent_token tok;
    char error[200];
    (void)st;

    hs_box_keypair(mine.pk, mine.sk);
    me_event(&ev, HS_EV_TOKEN_REFRESHED, mine.pk,
             "{\"access_token\":\"gho_y\",\"token_type\":\"Bearer\","
             "\"expires_at\":0,\"scopes\":\"repo\"}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)),
                     AGENT_CONNECTED);
    assert_string_equal(tok.access_token, "gho_y");
    assert_int_equal(tok.expires_at, 0);
}

static void test_channel_disconnected_needs_an_open_box(void **st)
{
    static struct hs_event ev;
    struct agent_keys mine, other;
    struct agent_token tok;
    char error[200];
    (void)st;

    hs_box_keypair(mine.pk, mine.sk);
    hs_box_keypair(other.pk, other.sk);
    me_event(&ev, HS_EV_PROVIDER_DISCONNECTED, mine.pk, "{}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)),
                     AGENT_DISCONNECTED);
    assert_int_equal(agent_channel_handle(&ev, "a1", "gitlab", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    assert_int_equal(agent_channel_handle(&ev, "a2", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    /* Sealed to another agent's key: not ours to act on. */
    me_event(&ev, HS_EV_PROVIDER_DISCONNECTED, other.pk, "{}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    me_event(&ev, HS_EV_PROVIDER_DISCONNECTED, mine.pk, "[]");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    ev.box_len = 0; /* no box at all */
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
}

static void test_channel_reauth_gives_the_reason(void **st)
{
    static struct hs_event ev;
    struct agent_keys mine, other;
    struct agent_token tok;
    char error[200];
    (void)st;

    hs_box_keypair(mine.pk, mine.sk);
    hs_box_keypair(other.pk, other.sk);
    me_event(&ev, HS_EV_REAUTH_REQUIRED, mine.pk,
             "{\"error\":\"invalid_grant\",\"error_description\":"
             "\"revoked\"}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_REAUTH);
    assert_string_equal(error, "invalid_grant: revoked");
    me_event(&ev, HS_EV_REAUTH_REQUIRED, mine.pk,
             "{\"error\":\"invalid_grant\"}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_REAUTH);
    assert_string_equal(error, "invalid_grant");
    /* The error fields are optional. */
    me_event(&ev, HS_EV_REAUTH_REQUIRED, mine.pk, "{}");
    snprintf(error, sizeof(error), "%s", "stale");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_REAUTH);
    assert_string_equal(error, "");
    me_event(&ev, HS_EV_REAUTH_REQUIRED, mine.pk, "{\"error\":5}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_REAUTH);
    assert_string_equal(error, "");
    assert_int_equal(agent_channel_handle(&ev, "a1", "gitlab", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    me_event(&ev, HS_EV_REAUTH_REQUIRED, other.pk, "{}");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
    me_event(&ev, HS_EV_REAUTH_REQUIRED, mine.pk, "not json");
    assert_int_equal(agent_channel_handle(&ev, "a1", "github", &mine, &tok,
                                          error, sizeof(error)), AGENT_IGNORE);
}

static void test_token_take_reads_the_server_answer(void **st)
{
    static const char *const bad[] = {
        "[]", "{}", "{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"at\"}",
        "{\"access_token\":5,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"at\",\"token_type\":\"Bearer\","
        "\"expires_at\":\"soon\"}",
        "{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"scopes\":7}",
    };
    struct agent_token t;
    json_t *o = json_loads("{\"access_token\":\"gho_z\",\"token_type\":"
                           "\"Bearer\",\"expires_at\":1700000000000,"
                           "\"scopes\":\"repo user\"}", 0, NULL);
    const char *at = json_string_value(json_object_get(o, "access_token"));
    (void)st;

    assert_int_equal(agent_token_take(o, &t), HS_OK);
    assert_string_equal(t.access_token, "gho_z");
    assert_string_equal(t.token_type, "Bearer");
    assert_string_equal(t.scopes, "repo user");
    assert_true(t.expires_at == 1700000000000LL);
    assert_int_equal(at[0], 0); /* the secret moved out of o */
    json_decref(o);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&t, 'x', sizeof(t));
        o = json_loads(bad[i], 0, NULL);
        assert_non_null(o);
        assert_int_equal(agent_token_take(o, &t), HS_ERR_DECODE);
        assert_int_equal(t.access_token[0], 'x'); /* untouched */
        json_decref(o);
    }
}

static void test_store_delete_token(void **st)
{
    struct agent_token t, tb;
    (void)st;

    memset(&t, 0, sizeof(t));
    snprintf(t.access_token, sizeof(t.access_token), "%s", "at");
    snprintf(t.token_type, sizeof(t.token_type), "%s", "Bearer");
    assert_int_equal(agent_store_save_token(home, "github", &t), HS_OK);
    assert_int_equal(agent_store_save_token(home, "gitlab", &t), HS_OK);
    assert_int_equal(agent_store_delete_token(home, "github"), HS_OK);
    assert_int_equal(agent_store_load_token(home, "github", &tb),
                     HS_ERR_NOTFOUND);
    assert_int_equal(agent_store_load_token(home, "gitlab", &tb), HS_OK);
    /* Absent is fine: the goal (no token) holds. */
    assert_int_equal(agent_store_delete_token(home, "github"), HS_OK);
    assert_int_equal(agent_store_delete_token(home, "never"), HS_OK);
    assert_int_equal(agent_store_delete_token(home, "../config"),
                     HS_ERR_INVALID);
    assert_int_equal(agent_store_delete_token(home, ""), HS_ERR_INVALID);
}

static void test_refreshed_never_replaces_a_newer_token(void **st)
{
    static const struct {
        int64_t incoming, stored;
        int want;
    } cases[] = {
        {2000, 1000, 1}, /* newer */
        {1000, 1000, 1}, /* the same message again */
        {1000, 2000, 0}, /* out of order: older */
        {0, 2000, 1},    /* no expiry is the newest */
        {0, 0, 1},
        {2000, 0, 0},    /* nothing is newer than no expiry */
    };
    struct agent_token in, old;
    (void)st;

    memset(&in, 0, sizeof(in));
    memset(&old, 0, sizeof(old));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        in.expires_at = cases[i].incoming;
        old.expires_at = cases[i].stored;
        assert_int_equal(agent_token_supersedes(&in, &old), cases[i].want);
    }
    in.expires_at = 5;
    assert_int_equal(agent_token_supersedes(&in, NULL), 1); /* none stored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_round_trip_with_private_modes, make_home, remove_home),
        cmocka_unit_test_setup_teardown(
            test_damaged_files_are_errors_naming_the_file, make_home,
            remove_home),
        cmocka_unit_test(test_channel_judges_messages),
        cmocka_unit_test(test_channel_refreshed_is_connected),
        cmocka_unit_test(test_channel_disconnected_needs_an_open_box),
        cmocka_unit_test(test_channel_reauth_gives_the_reason),
        cmocka_unit_test(test_token_take_reads_the_server_answer),
        cmocka_unit_test_setup_teardown(test_store_delete_token, make_home,
                                        remove_home),
        cmocka_unit_test(test_refreshed_never_replaces_a_newer_token),
    };

    if (hs_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
