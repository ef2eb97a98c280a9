/* Unit tests of lib/hs_discovery: OpenID discovery against a
 * libmicrohttpd server in this process that serves a chosen document. */
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

#include "hs_discovery.h"
#include "hs_http.h"

static struct MHD_Daemon *d;
static char base[64];
static char doc[2048];     /* the document served; "" answers 404 */
static atomic_int fetched; /* discovery requests seen */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *v, const char *up, size_t *n,
                               void **ctx)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    int found = doc[0] && strcmp(url, "/.well-known/openid-configuration") ==
                              0;

    (void)cls, (void)method, (void)v, (void)up, (void)n, (void)ctx;
    atomic_fetch_add(&fetched, 1);
    r = MHD_create_response_from_buffer(found ? strlen(doc) : 0,
                                        found ? doc : NULL,
                                        MHD_RESPMEM_MUST_COPY);
    ret = MHD_queue_response(c, found ? 200 : 404, r);
    MHD_destroy_response(r);
    return ret;
}

static int setup(void **st)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *di;

    (void)st;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                         handler, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_END);
    di = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di)
        return -1;
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", di->port);
    return hs_http_global_init() == HS_OK ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    MHD_stop_daemon(d);
    return 0;
}

/* A catalog of one provider "acme" with issuer iss and the given URLs. */
static void one(struct hs_catalog *cat, const char *iss, const char *auth,
                const char *token)
{
    cat->n = 1;
    cat->v = calloc(1, sizeof(*cat->v));
    assert_non_null(cat->v);
    snprintf(cat->v->name, sizeof(cat->v->name), "acme");
    snprintf(cat->v->issuer, sizeof(cat->v->issuer), "%s", iss);
    snprintf(cat->v->authorize_url, sizeof(cat->v->authorize_url), "%s",
             auth);
    snprintf(cat->v->token_url, sizeof(cat->v->token_url), "%s", token);
}

static void serve(const char *issuer, const char *extra)
{
    snprintf(doc, sizeof(doc),
             "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/auth\","
             "\"token_endpoint\":\"%s/token\",\"userinfo_endpoint\":"
             "\"%s/me\",\"revocation_endpoint\":\"%s/revoke\"%s}",
             issuer, base, base, base, base, extra);
}

static enum hs_err discover(struct hs_catalog *cat, int allow_http,
                            char *err)
{
    return hs_catalog_discover(cat, allow_http, 2000, err, 200);
}

static void test_fills_what_is_missing_only(void **st)
{
    struct hs_catalog cat = {0};
    char err[200] = "", want[128];
    (void)st;

    serve(base, "");
    one(&cat, base, "", "https://kept.example/token");
    assert_int_equal(discover(&cat, 1, err), HS_OK);
    snprintf(want, sizeof(want), "%s/auth", base);
    assert_string_equal(cat.v->authorize_url, want);
    assert_string_equal(cat.v->token_url, "https://kept.example/token");
    snprintf(want, sizeof(want), "%s/me", base);
    assert_string_equal(cat.v->userinfo_url, want);
    snprintf(want, sizeof(want), "%s/revoke", base);
    assert_string_equal(cat.v->revoke_url, want);
    hs_catalog_cleanup(&cat);
}

static void test_complete_or_plain_providers_are_not_fetched(void **st)
{
    struct hs_catalog cat = {0};
    char err[200] = "";
    int before = atomic_load(&fetched);
    (void)st;

    one(&cat, "", "https://x/a", "https://x/t"); /* plain OAuth */
    assert_int_equal(discover(&cat, 1, err), HS_OK);
    hs_catalog_cleanup(&cat);
    one(&cat, base, "https://x/a", "https://x/t"); /* nothing missing */
    assert_int_equal(discover(&cat, 1, err), HS_OK);
    hs_catalog_cleanup(&cat);
    assert_int_equal(atomic_load(&fetched), before);
}

static void expect_fail(const char *want, int allow_http)
{
    struct hs_catalog cat = {0};
    char err[200] = "";

    one(&cat, base, "", "");
    assert_int_equal(discover(&cat, allow_http, err), HS_ERR_CONFIG);
    if (!strstr(err, "provider \"acme\": discovery: ") || !strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
    hs_catalog_cleanup(&cat);
}

static void test_refusals(void **st)
{
    (void)st;
    serve("https://evil.example", "");
    expect_fail("issuer mismatch", 1);
    snprintf(doc, sizeof(doc), "{\"issuer\":\"%s\",\"authorization_endpoint"
             "\":\"%s/auth\"}", base, base);
    expect_fail("no authorization_endpoint or token_endpoint", 1);
    serve(base, "");
    expect_fail("the issuer cannot be reached", 0); /* http refused */
    snprintf(doc, sizeof(doc), "{\"issuer\":\"%s\",\"authorization_endpoint"
             "\":\"ftp://x/a\",\"token_endpoint\":\"%s/t\"}", base, base);
    expect_fail("not usable", 1);
    snprintf(doc, sizeof(doc), "not json");
    expect_fail("not a JSON object", 1);
    doc[0] = '\0';
    expect_fail("answered an error", 1); /* 404 */
}

static void test_unreachable_issuer_fails_fast(void **st)
{
    struct hs_catalog cat = {0};
    char err[200] = "";
    (void)st;

    one(&cat, "http://127.0.0.1:1", "", "");
    assert_int_equal(discover(&cat, 1, err), HS_ERR_CONFIG);
    assert_non_null(strstr(err, "cannot be reached"));
    hs_catalog_cleanup(&cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_what_is_missing_only),
        cmocka_unit_test(test_complete_or_plain_providers_are_not_fetched),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_unreachable_issuer_fails_fast),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
