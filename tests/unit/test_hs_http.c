/* Unit tests of lib/hs_http against a real libmicrohttpd server started
 * in the test on 127.0.0.1 (SECURITY 14: no redirects, time-outs, size
 * cap, scheme allow list). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hs_http.h"

static struct MHD_Daemon *d;
static char base[64];
static char host_port[32];     /* "127.0.0.1:<port>" of the test server */
static atomic_int requests;    /* requests the server has begun */

struct seen {
    int calls;
    char body[256];
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body, const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (location)
        MHD_add_response_header(r, "Location", location);
    MHD_add_response_header(r, "Content-Type", "text/plain");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *up,
                               size_t *uplen, void **ctx)
{
    struct seen *s = *ctx;
    char out[512];

    (void)cls, (void)method, (void)version;
    if (!s) {
        atomic_fetch_add(&requests, 1);
        *ctx = calloc(1, sizeof(struct seen));
        return *ctx ? MHD_YES : MHD_NO;
    }
    if (*uplen) {
        size_t n = *uplen < sizeof(s->body) - s->len - 1
                       ? *uplen : sizeof(s->body) - s->len - 1;

        memcpy(s->body + s->len, up, n);
        s->len += n;
        *uplen = 0;
        return MHD_YES;
    }
    if (s->calls++)
        return MHD_YES;
    if (strcmp(url, "/echo") == 0) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &pass);
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Content-Type");

        snprintf(out, sizeof(out), "%s|%s|%s|%s|%s", method,
                 user ? user : "-", pass ? pass : "-", ct ? ct : "-",
                 s->body);
        MHD_free(user);
        MHD_free(pass);
        return reply(c, 200, out, NULL);
    }
    if (strcmp(url, "/headers") == 0) {
        const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                      "Accept");
        const char *az = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Authorization");
        const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     "Expect");

        snprintf(out, sizeof(out), "%s|%s|%s|%s|%s", method,
                 acc ? acc : "-", az ? az : "-", ex ? ex : "-", s->body);
        return reply(c, 200, out, NULL);
    }
    if (strcmp(url, "/empty") == 0)
        return reply(c, 204, "", NULL);
    if (strcmp(url, "/big") == 0) {
        static char big[5000];

        memset(big, 'x', sizeof(big) - 1);
        return reply(c, 200, big, NULL);
    }
    if (strcmp(url, "/slow") == 0) {
        struct timespec ts = {0, 500 * 1000 * 1000};

        nanosleep(&ts, NULL);
        return reply(c, 200, "late", NULL);
    }
    if (strcmp(url, "/redirect") == 0)
        return reply(c, 302, "", "/echo");
    return reply(c, 404, "no", NULL);
}

static void done(void *cls, struct MHD_Connection *c, void **ctx,
                 enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    free(*ctx);
    *ctx = NULL;
}

static int start(void **st)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *di;

    (void)st;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED,
                         done, NULL, MHD_OPTION_END);
    if (!d)
        return -1;
    di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!di || di->port == 0)
        return -1;
    snprintf(host_port, sizeof(host_port), "127.0.0.1:%u", di->port);
    snprintf(base, sizeof(base), "http://%s", host_port);
    return hs_http_global_init() == HS_OK ? 0 : -1;
}

static int stop(void **st)
{
    (void)st;
    MHD_stop_daemon(d);
    return 0;
}

static enum hs_err get(const char *path, struct hs_http_request *req,
                       struct hs_http_response *res)
{
    static char url[128];

    snprintf(url, sizeof(url), "%s%s", base, path);
    req->url = url;
    req->allow_http = 1;
    return hs_http_do(req, res);
}

static void test_post_carries_body_type_and_basic_auth(void **st)
{
    struct hs_http_request req = {.method = "POST", .body = "a=1&b=2",
                                  .body_len = 7,
                                  .content_type =
                                      "application/x-www-form-urlencoded",
                                  .basic_user = "id", .basic_pass = "pw"};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/echo", &req, &res), HS_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "POST|id|pw|application/x-www-form-"
                                  "urlencoded|a=1&b=2");
    assert_string_equal(res.content_type, "text/plain");
    hs_http_response_cleanup(&res);
}

static void test_redirects_are_not_followed(void **st)
{
    struct hs_http_request req = {.method = "GET"};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/redirect", &req, &res), HS_OK);
    assert_int_equal(res.status, 302);
    hs_http_response_cleanup(&res);
}

static void test_body_cap_and_timeout(void **st)
{
    struct hs_http_request req = {.method = "GET", .max_body = 1000};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/big", &req, &res), HS_ERR_TOOBIG);
    assert_null(res.body);
    req.max_body = 0;
    req.timeout_ms = 150;
    assert_int_equal(get("/slow", &req, &res), HS_ERR_TIMEOUT);
    assert_null(res.body);
}

static void test_scheme_allow_list_and_refused_connection(void **st)
{
    struct hs_http_request req = {.method = "GET",
                                  .url = "http://127.0.0.1:1/x"};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(hs_http_do(&req, &res), HS_ERR_INVALID); /* http */
    req.url = "ftp://127.0.0.1/x";
    req.allow_http = 1;
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_INVALID);
    req.url = "http://127.0.0.1:1/x";
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_TRANSIENT);
}

static void test_form_encoding(void **st)
{
    char buf[64] = "", small[8] = "a=b";
    (void)st;

    assert_int_equal(hs_http_form_add(buf, sizeof(buf), "redirect_uri",
                                      "https://x/y?z=1 2"), HS_OK);
    assert_int_equal(hs_http_form_add(buf, sizeof(buf), "k", "é"), HS_OK);
    assert_string_equal(buf, "redirect_uri=https%3A%2F%2Fx%2Fy%3Fz%3D1+2"
                             "&k=%C3%A9");
    assert_int_equal(hs_http_form_add(small, sizeof(small), "long", "value"),
                     HS_ERR_TOOBIG);
    assert_string_equal(small, "a=b"); /* unchanged */
}

static void test_get_round_trip_with_accept_and_bearer(void **st)
{
    struct hs_http_request req = {.method = "GET",
                                  .accept = "application/json",
                                  .bearer = "gho_secret"};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/headers", &req, &res), HS_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "GET|application/json|Bearer gho_secret|-|");
    assert_int_equal(res.len, strlen(res.body));
    assert_string_equal(res.content_type, "text/plain");
    hs_http_response_cleanup(&res);
    assert_null(res.body);
    assert_int_equal(res.status, 0);
    /* A POST goes out without Expect: 100-continue nor a bearer. */
    req.method = "POST";
    req.bearer = NULL;
    req.accept = NULL;
    req.body = "x=1";
    req.body_len = 3;
    assert_int_equal(get("/headers", &req, &res), HS_OK);
    assert_string_equal(res.body, "POST|*/*|-|-|x=1"); /* curl's Accept */
    hs_http_response_cleanup(&res);
    hs_http_response_cleanup(&res); /* safe on a zeroed response */
}

static void test_any_status_is_a_result(void **st)
{
    struct hs_http_request req = {.method = "GET"};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/nothing", &req, &res), HS_OK);
    assert_int_equal(res.status, 404);
    assert_string_equal(res.body, "no");
    hs_http_response_cleanup(&res);
    assert_int_equal(get("/empty", &req, &res), HS_OK);
    assert_int_equal(res.status, 204);
    assert_non_null(res.body); /* an empty body is "", not NULL */
    assert_string_equal(res.body, "");
    assert_int_equal(res.len, 0);
    hs_http_response_cleanup(&res);
}

static void test_body_cap_boundary(void **st)
{
    struct hs_http_request req = {.method = "GET", .max_body = 4999};
    struct hs_http_response res;
    (void)st;

    assert_int_equal(get("/big", &req, &res), HS_OK); /* exactly the cap */
    assert_int_equal(res.len, 4999);
    hs_http_response_cleanup(&res);
    req.max_body = 4998;
    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(get("/big", &req, &res), HS_ERR_TOOBIG);
    assert_null(res.body); /* zeroed on failure */
    assert_int_equal(res.status, 0);
    assert_int_equal(res.len, 0);
}

static void test_http_refused_before_any_connection(void **st)
{
    static const struct {
        const char *scheme, *path; /* around host_port */
    } refused[] = {
        {"http://", "/echo"}, /* plain http without allow_http */
        {"HTTP://", "/echo"}, /* no case games */
        {"ftp://", "/echo"},
        {"//", "/echo"},
        {"", ""},
        {"file://", "/etc/passwd"},
    };
    struct hs_http_request req = {.method = "GET"};
    struct hs_http_response res;
    char url[128];
    int before = atomic_load(&requests);
    (void)st;

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(url, sizeof(url), "%s%s%s", refused[i].scheme, host_port,
                 refused[i].path);
        req.url = url;
        memset(&res, 0xa5, sizeof(res));
        if (hs_http_do(&req, &res) != HS_ERR_INVALID)
            fail_msg("not refused: %s", url);
        assert_null(res.body);
        assert_int_equal(res.status, 0);
    }
    req.url = NULL;
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_INVALID);
    assert_int_equal(atomic_load(&requests), before); /* nothing reached */
    /* https to a plain-text server fails in TLS, never falls back. */
    snprintf(url, sizeof(url), "https://%s/echo", host_port);
    req.url = url;
    assert_int_not_equal(hs_http_do(&req, &res), HS_OK);
    assert_null(res.body);
}

/* A port on 127.0.0.1 that was just free and nobody listens on. */
static unsigned closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_refused_connection_is_transient(void **st)
{
    struct hs_http_request req = {.method = "POST", .allow_http = 1,
                                  .body = "a", .body_len = 1};
    struct hs_http_response res;
    char url[64];
    (void)st;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", closed_port());
    req.url = url;
    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_TRANSIENT);
    assert_null(res.body);
    assert_int_equal(res.status, 0);
}

static void test_urlencode_writes_nothing_when_short(void **st)
{
    char out[4] = "zzz";
    (void)st;

    assert_int_equal(hs_http_urlencode("abc", out, 3), HS_ERR_TOOBIG);
    assert_string_equal(out, "zzz");
    assert_int_equal(hs_http_urlencode("a b", out, 4), HS_OK);
    assert_string_equal(out, "a+b");
}

static void test_urlencode_table(void **st)
{
    static const struct {
        const char *in, *out;
    } t[] = {
        {"", ""},
        {"azAZ09-._~", "azAZ09-._~"}, /* RFC 3986 unreserved kept */
        {"a b", "a+b"},
        {"+", "%2B"},
        {"&=?#/:@", "%26%3D%3F%23%2F%3A%40"},
        {"!$'()*,;[]%", "%21%24%27%28%29%2A%2C%3B%5B%5D%25"},
        {"\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
        {"\xc3\xa9", "%C3%A9"},           /* é */
        {"\xe2\x82\xac", "%E2%82%AC"},    /* € */
        {"\x01\t\r\n\x7f\xff", "%01%09%0D%0A%7F%FF"},
    };
    char out[64];
    (void)st;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t need = strlen(t[i].out) + 1;

        assert_int_equal(hs_http_urlencode(t[i].in, out, sizeof(out)), HS_OK);
        assert_string_equal(out, t[i].out);
        /* Exactly enough room, then one byte short. */
        assert_int_equal(hs_http_urlencode(t[i].in, out, need), HS_OK);
        assert_string_equal(out, t[i].out);
        assert_int_equal(hs_http_urlencode(t[i].in, out, need - 1),
                         HS_ERR_TOOBIG);
    }
}

/* hs_http_form_add at every too-small capacity leaves the buffer as it
 * was; at the exact capacity it appends. */
static void test_form_add_all_short_capacities(void **st)
{
    static const struct {
        const char *before, *name, *value, *after;
    } t[] = {
        {"", "code", "a b&c", "code=a+b%26c"},
        {"a=b", "redirect_uri", "https://x/?q=1",
         "a=b&redirect_uri=https%3A%2F%2Fx%2F%3Fq%3D1"},
        {"a=b", "k", "\xc3\xa9", "a=b&k=%C3%A9"},
        {"a=b", "e", "", "a=b&e="},
    };
    char buf[128];
    (void)st;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t need = strlen(t[i].after) + 1;

        for (size_t cap = strlen(t[i].before) + 1; cap < need; cap++) {
            snprintf(buf, sizeof(buf), "%s", t[i].before);
            if (hs_http_form_add(buf, cap, t[i].name, t[i].value) !=
                HS_ERR_TOOBIG)
                fail_msg("case %zu fits in %zu", i, cap);
            assert_string_equal(buf, t[i].before);
        }
        snprintf(buf, sizeof(buf), "%s", t[i].before);
        assert_int_equal(hs_http_form_add(buf, need, t[i].name, t[i].value),
                         HS_OK);
        assert_string_equal(buf, t[i].after);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencode_writes_nothing_when_short),
        cmocka_unit_test(test_post_carries_body_type_and_basic_auth),
        cmocka_unit_test(test_redirects_are_not_followed),
        cmocka_unit_test(test_body_cap_and_timeout),
        cmocka_unit_test(test_scheme_allow_list_and_refused_connection),
        cmocka_unit_test(test_form_encoding),
        cmocka_unit_test(test_get_round_trip_with_accept_and_bearer),
        cmocka_unit_test(test_any_status_is_a_result),
        cmocka_unit_test(test_body_cap_boundary),
        cmocka_unit_test(test_http_refused_before_any_connection),
        cmocka_unit_test(test_refused_connection_is_transient),
        cmocka_unit_test(test_urlencode_table),
        cmocka_unit_test(test_form_add_all_short_capacities),
    };

    return cmocka_run_group_tests(tests, start, stop);
}
