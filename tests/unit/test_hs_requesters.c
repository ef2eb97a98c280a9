/* Unit tests of lib/hs_requesters: the loopback allow list (SPEC §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hs_requesters.h"

static struct hs_requesters rs;

static void parse_ok(const char *spec)
{
    char err[300] = "";

    if (hs_requesters_parse(spec, &rs, err, sizeof(err)) != HS_OK)
        fail_msg("%s: %s", spec, err);
}

static void test_good_entries_and_redirects(void **st)
{
    static const struct {
        const char *spec, *port, *want, *origin;
    } good[] = {
        {"VSCODE=http://127.0.0.1:*/callback", "51234",
         "http://127.0.0.1:51234/callback?code=abc_-9", "http://127.0.0.1:51234"},
        {"a=http://[::1]:8123/x/y", NULL, "http://[::1]:8123/x/y?code=abc_-9",
         "http://[::1]:8123"},
        {"jb=http://localhost/auth", NULL, "http://localhost/auth?code=abc_-9",
         "http://localhost"},
        {"b=http://127.0.0.1", NULL, "http://127.0.0.1/?code=abc_-9",
         "http://127.0.0.1"},
        {"c=HTTP://127.0.0.1:*", "1", "http://127.0.0.1:1/?code=abc_-9",
         "http://127.0.0.1:1"},
        {"ide=vscode://acme.handshake/did-auth", NULL,
         "vscode://acme.handshake/did-auth?code=abc_-9", "vscode:"},
        {"app=com.example.app:/oauth2redirect", NULL,
         "com.example.app:/oauth2redirect?code=abc_-9", "com.example.app:"},
        {"U=VSCode-Insiders://x/", NULL, "vscode-insiders://x/?code=abc_-9",
         "vscode-insiders:"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const struct hs_requester *rq;
        char name[32], out[300];
        int port = -5;

        parse_ok(good[i].spec);
        assert_int_equal(rs.n, 1);
        snprintf(name, sizeof(name), "%.*s",
                 (int)strcspn(good[i].spec, "="), good[i].spec);
        rq = hs_requesters_find(&rs, name);
        assert_non_null(rq);
        assert_int_equal(hs_requester_port(rq, good[i].port, &port), HS_OK);
        assert_int_equal(hs_requester_redirect(rq, port, "abc_-9", out,
                                               sizeof(out)), HS_OK);
        assert_string_equal(out, good[i].want);
        assert_int_equal(hs_requester_origin(rq, port, out, sizeof(out)),
                         HS_OK);
        assert_string_equal(out, good[i].origin);
    }
}

static void test_lists_and_lookup(void **st)
{
    char err[300], out[8];
    const struct hs_requester *rq;
    (void)st;

    parse_ok("");
    assert_int_equal(rs.n, 0);
    assert_null(hs_requesters_find(&rs, "VSCODE"));
    parse_ok("VSCODE=http://127.0.0.1:*/cb,hs-agent=http://127.0.0.1:*/cb,"
             "jb=http://localhost:63342/a");
    assert_int_equal(rs.n, 3);
    assert_non_null(hs_requesters_find(&rs, "hs-agent"));
    assert_null(hs_requesters_find(&rs, "vscode")); /* case-sensitive */
    assert_null(hs_requesters_find(&rs, "VSCODE "));
    assert_null(hs_requesters_find(&rs, ""));
    rq = hs_requesters_find(&rs, "jb");
    assert_int_equal(hs_requester_redirect(rq, 63342, "x", out, sizeof(out)),
                     HS_ERR_TOOBIG);
    /* The handle is base64url: nothing else reaches the Location. */
    assert_int_equal(hs_requester_redirect(rq, 63342, "a&b", out, 8),
                     HS_ERR_INVALID);
    assert_int_equal(hs_requester_redirect(rq, 63342, "", out, 8),
                     HS_ERR_INVALID);
    assert_int_equal(hs_requester_redirect(rq, -1, "x", out, 8),
                     HS_ERR_INVALID);
    assert_int_equal(hs_requester_origin(rq, 65536, out, 8), HS_ERR_INVALID);
    assert_int_equal(hs_requesters_parse("a=http://127.0.0.1/,a=http://"
                                         "localhost/", &rs, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "\"a\" is listed twice"));
}

/* Ports: an entry with :* needs one, any other entry takes none. */
static void test_ports(void **st)
{
    static const char *const bad_any[] = {
        NULL, "", "0", "65536", "99999", "080", "+80", "-1", " 80", "80 ",
        "8o", "80@evil", "80/evil", "80#x", "123456", "0x50", "１２３"};
    const struct hs_requester *rq;
    int port = 0;
    (void)st;

    parse_ok("any=http://127.0.0.1:*/cb,fixed=http://127.0.0.1:3000/cb,"
             "none=http://127.0.0.1/cb,app=vscode://a.b/c");
    rq = hs_requesters_find(&rs, "any");
    for (size_t i = 0; i < sizeof(bad_any) / sizeof(bad_any[0]); i++)
        if (hs_requester_port(rq, bad_any[i], &port) != HS_ERR_INVALID)
            fail_msg("port \"%s\" accepted", bad_any[i] ? bad_any[i] : "NULL");
    assert_int_equal(hs_requester_port(rq, "65535", &port), HS_OK);
    assert_int_equal(port, 65535);
    rq = hs_requesters_find(&rs, "fixed");
    assert_int_equal(hs_requester_port(rq, NULL, &port), HS_OK);
    assert_int_equal(port, 3000);
    assert_int_equal(hs_requester_port(rq, "3000", &port), HS_ERR_INVALID);
    assert_int_equal(hs_requester_port(rq, "4000", &port), HS_ERR_INVALID);
    rq = hs_requesters_find(&rs, "none");
    assert_int_equal(hs_requester_port(rq, "80", &port), HS_ERR_INVALID);
    rq = hs_requesters_find(&rs, "app");
    assert_int_equal(hs_requester_port(rq, "80", &port), HS_ERR_INVALID);
    assert_int_equal(hs_requester_port(rq, NULL, &port), HS_OK);
    assert_int_equal(port, 0);
}

/* Every entry that could send a browser off the machine, to a page that
 * runs script, or to a URL another parser reads differently is refused at
 * start with a message naming the entry. */
static void test_bad_entries_are_refused_naming_them(void **st)
{
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"x", "entry 1"},
        {"=http://127.0.0.1/", "entry 1"},
        {"a b=http://127.0.0.1/", "entry 1"},
        {"a.b=http://127.0.0.1/", "entry 1"},
        {"abcdefghijklmnopqrstuvwxyz0123456=http://127.0.0.1/", "entry 1"},
        {"ok=http://127.0.0.1/,", "entry 2"},
        {"ok=http://127.0.0.1/,,x=http://127.0.0.1/", "entry 2"},
        {"a=https://127.0.0.1/cb", "\"a\": the scheme https:"},
        {"a=http://evil.example/cb", "\"a\": an http redirect"},
        {"a=http://127.0.0.1.evil/cb", "\"a\": an http redirect"},
        {"a=http://127.0.0.1@evil/cb", "\"a\": an http redirect"},
        {"a=http://user@127.0.0.1/cb", "\"a\": an http redirect"},
        {"a=http://localhost.evil/", "\"a\": an http redirect"},
        {"a=http://127.0.0.2/", "\"a\": an http redirect"},
        {"a=http://0x7f000001/", "\"a\": an http redirect"},
        {"a=http://[::ffff:127.0.0.1]/", "\"a\": an http redirect"},
        {"a=http:127.0.0.1/", "\"a\": an http redirect"},
        {"a=http:\\\\127.0.0.1/", "\"a\": an http redirect"},
        {"a=http://127.0.0.1\\evil", "\"a\": an http redirect"},
        {"a=http://127.0.0.1:0/", "\"a\": the port"},
        {"a=http://127.0.0.1:65536/", "\"a\": the port"},
        {"a=http://127.0.0.1:**/", "\"a\": the port"},
        {"a=http://127.0.0.1:/", "\"a\": the port"},
        {"a=http://127.0.0.1:80x/", "\"a\": the port"},
        {"a=http://127.0.0.1//evil", "\"a\": the path"},
        {"a=http://127.0.0.1/a/../b", "\"a\": the path"},
        {"a=http://127.0.0.1/cb?x=1", "\"a\": the path"},
        {"a=http://127.0.0.1/cb#f", "\"a\": the path"},
        {"a=http://127.0.0.1/c%2fb", "\"a\": the path"},
        {"a=http://127.0.0.1/c b", "\"a\": the path"},
        {"a=http://127.0.0.1/c\\b", "\"a\": the path"},
        {"a=javascript:alert(1)", "\"a\": the scheme javascript:"},
        {"a=JavaScript://x/%0aalert(1)", "\"a\": the scheme JavaScript:"},
        {"a=data:text/html,x", "\"a\": the scheme data:"},
        {"a=file:///etc/passwd", "\"a\": the scheme file:"},
        {"a=vbscript:x", "\"a\": the scheme vbscript:"},
        {"a=ftp://127.0.0.1/", "\"a\": the scheme ftp:"},
        {"a=//evil.example/", "\"a\": the redirect must start"},
        {"a=\\\\evil.example/", "\"a\": the redirect must start"},
        {"a=/cb", "\"a\": the redirect must start"},
        {"a=127.0.0.1:80/cb", "\"a\": the redirect must start"},
        {"a=1app:/cb", "\"a\": the redirect must start"},
        {"a=vs_code://x/", "\"a\": the redirect must start"},
        {"a=vscode://u@x/", "\"a\": the authority"},
        {"a=vscode://x:80/", "\"a\": the authority"},
        {"a=vscode:///cb", "\"a\": the authority"},
        {"a=vscode://x/a?b", "\"a\": the path"},
        {"a=vscode:cb", "\"a\": the path"},
    };
    char err[300];
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (hs_requesters_parse(bad[i].spec, &rs, err, sizeof(err)) !=
            HS_ERR_CONFIG)
            fail_msg("accepted: %s", bad[i].spec);
        if (strncmp(err, "HS_REQUESTERS: ", 15) != 0 ||
            !strstr(err, bad[i].want) || strchr(err, '\n'))
            fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].spec, err,
                     bad[i].want);
    }
}

static void test_too_many_entries(void **st)
{
    char spec[HS_REQUESTERS_MAX * 32 + 64] = "", err[200];
    size_t n = 0;
    (void)st;

    for (int i = 0; i <= HS_REQUESTERS_MAX; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%sr%d=app:/",
                              i ? "," : "", i);
    assert_int_equal(hs_requesters_parse(spec, &rs, err, sizeof(err)),
                     HS_ERR_CONFIG);
    assert_non_null(strstr(err, "more than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_entries_and_redirects),
        cmocka_unit_test(test_lists_and_lookup),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_bad_entries_are_refused_naming_them),
        cmocka_unit_test(test_too_many_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
