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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_http.h"

static struct MHD_Daemon *d;
static char base[64];

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
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", di->port);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_carries_body_type_and_basic_auth),
        cmocka_unit_test(test_redirects_are_not_followed),
        cmocka_unit_test(test_body_cap_and_timeout),
        cmocka_unit_test(test_scheme_allow_list_and_refused_connection),
        cmocka_unit_test(test_form_encoding),
    };

    return cmocka_run_group_tests(tests, start, stop);
}
