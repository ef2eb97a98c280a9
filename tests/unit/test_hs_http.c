/* Unit tests of lib/hs_http against a real libmicrohttpd server started
 * in the test on 127.0.0.1 (SECURITY 14: no redirects, time-outs, size
 * cap, scheme allow list). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
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

/* 3000 bytes of 'y' in chunks, then the end. */
static ssize_t chunk(void *cls, uint64_t pos, char *buf, size_t max)
{
    size_t n = max < 500 ? max : 500;

    (void)cls;
    if (pos >= 3000)
        return MHD_CONTENT_READER_END_OF_STREAM;
    memset(buf, 'y', n);
    return (ssize_t)n;
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
        struct timespec ts = {1, 0};

        nanosleep(&ts, NULL);
        return reply(c, 200, "late", NULL);
    }
    if (strcmp(url, "/redirect") == 0)
        return reply(c, 302, "", "/echo");
    if (strcmp(url, "/chunked") == 0) {
        /* no Content-Length: only the write callback can stop it */
        struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, 1024, chunk, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);

        MHD_destroy_response(r);
        return ret;
    }
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
    req.timeout_ms = 200;
    {
        struct timespec t0, t1;
        long ms;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(get("/slow", &req, &res), HS_ERR_TIMEOUT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 +
             (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_true(ms >= 150 && ms < 950); /* the handler sleeps 1000 */
    }
    assert_null(res.body);
}

/* A body without Content-Length is cut by the write callback; one with
 * it, before the body (CURLOPT_MAXFILESIZE). */
static void test_body_cap_without_content_length(void **st)
{
    struct hs_http_request req = {.method = "GET", .max_body = 2999};
    struct hs_http_response res;
    (void)st;

    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(get("/chunked", &req, &res), HS_ERR_TOOBIG);
    assert_null(res.body);
    assert_int_equal(res.status, 0);
    req.max_body = 3000;
    assert_int_equal(get("/chunked", &req, &res), HS_OK);
    assert_int_equal(res.len, 3000);
    assert_int_equal(res.body[2999], 'y');
    assert_int_equal(res.body[3000], '\0');
    hs_http_response_cleanup(&res);
}

/* Header values with control bytes and unknown methods are refused before
 * anything is sent. */
static void test_header_injection_and_methods_refused(void **st)
{
    static const struct {
        const char *method, *ctype, *accept, *bearer;
    } bad[] = {
        {"GET", "text/plain\r\nX-Evil: 1", NULL, NULL},
        {"GET", NULL, "a\nb", NULL},
        {"GET", NULL, NULL, "tok\r\nHost: evil"},
        {"GET", NULL, NULL, "tok\x01"},
        {"PUT", NULL, NULL, NULL},
        {"get", NULL, NULL, NULL},
        {"GET ", NULL, NULL, NULL},
        {"", NULL, NULL, NULL},
    };
    struct hs_http_response res;
    int before = atomic_load(&requests);
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hs_http_request req = {.method = bad[i].method,
                                      .content_type = bad[i].ctype,
                                      .accept = bad[i].accept,
                                      .bearer = bad[i].bearer};

        memset(&res, 0xa5, sizeof(res));
        if (get("/headers", &req, &res) != HS_ERR_INVALID)
            fail_msg("row %zu not refused", i);
        assert_null(res.body);
    }
    assert_int_equal(atomic_load(&requests), before);
    {
        struct hs_http_request req = {.method = "DELETE"};

        assert_int_equal(get("/echo", &req, &res), HS_OK);
        assert_int_equal(strncmp(res.body, "DELETE|", 7), 0);
        hs_http_response_cleanup(&res);
        req.method = NULL; /* NULL is GET */
        assert_int_equal(get("/echo", &req, &res), HS_OK);
        assert_int_equal(strncmp(res.body, "GET|", 4), 0);
        hs_http_response_cleanup(&res);
    }
}

/* A throwaway self-signed certificate for 127.0.0.1, made for this test
 * only (openssl req -x509 -newkey ec ...). Nothing trusts it, so a
 * verifying client must refuse the server. */
static const char tls_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAIaja1NAIHlZj+Hi\n"
    "lJNx6o+wpEikK3JlMU0WvKpaq4ShRANCAAR2ZYk2wjw7DEgZ00Xp9NMyg/FNLuZe\n"
    "goL4D+vsuoeGelZzBnkxhAC7OmSt4HA7TAz2SVApns1lNOX2QIaILBZq\n"
    "-----END PRIVATE KEY-----\n";
static const char tls_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBkDCCATagAwIBAgIULn8pV3YunUx5EDZHH3xrFkwgQwUwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMjEzNTIwN1oYDzIxMjYxMDI5\n"
    "MTM1MjA3WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAR2ZYk2wjw7DEgZ00Xp9NMyg/FNLuZegoL4D+vsuoeGelZzBnkxhAC7\n"
    "OmSt4HA7TAz2SVApns1lNOX2QIaILBZqo2QwYjAdBgNVHQ4EFgQUTfWQS6fHLn85\n"
    "qQtCGFoER8Z6M0UwHwYDVR0jBBgwFoAUTfWQS6fHLn85qQtCGFoER8Z6M0UwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC\n"
    "IQDPQCj6vy5CXMdSXbUqIFLf1s5gfoDfLkP/ZWHLpzC/vQIgbErDwZxcwVjxXFNV\n"
    "AHnSA8Rw3IhWypURhMq+wmn+Uv0=\n"
    "-----END CERTIFICATE-----\n";

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p, (void)u;
    return size * n;
}

/* TLS is verified: an untrusted certificate is HS_ERR_CRYPTO and the
 * request never reaches the handler; https to a plain-text server is a
 * TLS failure too, never a fallback to http. */
static void test_tls_is_verified(void **st)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *di;
    struct MHD_Daemon *tls;
    struct hs_http_request req = {.method = "GET", .timeout_ms = 5000};
    struct hs_http_response res;
    char url[128];
    int before;
    (void)st;

    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        skip();
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    tls = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                               MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS,
                           0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                           (struct sockaddr *)&sa, MHD_OPTION_HTTPS_MEM_KEY,
                           tls_key, MHD_OPTION_HTTPS_MEM_CERT, tls_cert,
                           MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                           MHD_OPTION_END);
    assert_non_null(tls);
    di = MHD_get_daemon_info(tls, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(di);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", di->port);
    req.url = url;
    before = atomic_load(&requests);
    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_CRYPTO);
    assert_null(res.body);
    assert_int_equal(res.status, 0);
    req.allow_http = 1; /* allowing http relaxes nothing about https */
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_CRYPTO);
    assert_int_equal(atomic_load(&requests), before);
    {
        /* Control: the same server answers a client that does not verify,
         * so the refusal above is verification, not a broken server. */
        CURL *c = curl_easy_init();
        long code = 0;

        assert_non_null(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        assert_int_equal(code, 200);
        curl_easy_cleanup(c);
        assert_int_equal(atomic_load(&requests), before + 1);
        before++;
    }
    MHD_stop_daemon(tls);
    /* https to the plain-text test server */
    snprintf(url, sizeof(url), "https://%s/echo", host_port);
    assert_int_equal(hs_http_do(&req, &res), HS_ERR_CRYPTO);
    assert_int_equal(atomic_load(&requests), before);
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
        cmocka_unit_test(test_body_cap_without_content_length),
        cmocka_unit_test(test_header_injection_and_methods_refused),
        cmocka_unit_test(test_tls_is_verified),
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
