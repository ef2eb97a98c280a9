/* Unit tests of workers/exchange/exchange_idtoken: every ID token claim
 * check (SECURITY 6, 16) and userinfo parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "exchange_idtoken.h"
#include "hs_crypto.h"

#define ISS "https://id.example"
#define CID "handshake"
#define NONCE "n0nce-value-123"
#define NOW 1700000000LL

static char jwt[8192];
static struct exchange_identity id;
static char why[64];

/* header.payload.sig with payload printf'd from fmt. */
static const char *make(const char *header, const char *payload)
{
    char h[1024], p[4096];

    assert_int_equal(hs_b64url_encode(header, strlen(header), h, sizeof(h)),
                     HS_OK);
    assert_int_equal(hs_b64url_encode(payload, strlen(payload), p, sizeof(p)),
                     HS_OK);
    snprintf(jwt, sizeof(jwt), "%s.%s.c2ln", h, p);
    return jwt;
}

static const char *claims(const char *extra_or_override)
{
    static char p[2048];

    snprintf(p, sizeof(p), "%s", extra_or_override);
    return make("{\"alg\":\"RS256\"}", p);
}

#define GOOD_FMT(aud, exp, iat, nonce)                                       \
    "{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":" aud ",\"exp\":" exp        \
    ",\"iat\":" iat ",\"nonce\":\"" nonce "\",\"email\":\"a@b.c\"," \
    "\"name\":\"A\"}"

static enum hs_err check(const char *t)
{
    memset(&id, 0, sizeof(id));
    why[0] = '\0';
    return exchange_idtoken_check(t, ISS, CID, NONCE, NOW, &id, why,
                                  sizeof(why));
}

static void test_valid(void **st)
{
    (void)st;
    assert_int_equal(check(claims(GOOD_FMT("\"" CID "\"", "1700000300",
                                           "1700000000", NONCE))),
                     HS_OK);
    assert_string_equal(id.issuer, ISS);
    assert_string_equal(id.subject, "u1");
    assert_string_equal(id.email, "a@b.c");
    assert_string_equal(id.name, "A");
    /* aud as an array of one; exp within the skew. */
    assert_int_equal(check(claims(GOOD_FMT("[\"" CID "\"]", "1699999990",
                                           "1700000000", NONCE))),
                     HS_OK);
}

static void expect(const char *t, enum hs_err rc, const char *reason)
{
    assert_int_equal(check(t), rc);
    assert_string_equal(why, reason);
    assert_string_equal(id.subject, ""); /* untouched */
}

static void test_wrong_claims(void **st)
{
    (void)st;
    expect(claims(GOOD_FMT("\"other\"", "1700000300", "1700000000", NONCE)),
           HS_ERR_DENIED, "wrong_aud");
    expect(claims(GOOD_FMT("[\"" CID "\",\"other\"]", "1700000300",
                           "1700000000", NONCE)),
           HS_ERR_DENIED, "wrong_aud"); /* several audiences need azp */
    expect(claims("{\"iss\":\"https://evil\",\"sub\":\"u1\",\"aud\":\"" CID
                  "\",\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\""
                  NONCE "\"}"),
           HS_ERR_DENIED, "wrong_iss");
    expect(claims(GOOD_FMT("\"" CID "\"", "1699999900", "1699999800", NONCE)),
           HS_ERR_EXPIRED, "expired");
    expect(claims(GOOD_FMT("\"" CID "\"", "1700000300", "1700000100", NONCE)),
           HS_ERR_EXPIRED, "bad_iat"); /* issued in the future */
    expect(claims(GOOD_FMT("\"" CID "\"", "1700009000", "1699999000", NONCE)),
           HS_ERR_EXPIRED, "bad_iat"); /* older than 10 minutes */
    expect(claims(GOOD_FMT("\"" CID "\"", "1700000300", "1700000000",
                           "n0nce-value-124")),
           HS_ERR_DENIED, "wrong_nonce");
    expect(claims(GOOD_FMT("\"" CID "\"", "1700000300", "1700000000",
                           "n0nce-value-12")),
           HS_ERR_DENIED, "wrong_nonce");
}

static void test_azp(void **st)
{
    (void)st;
    assert_int_equal(
        check(claims("{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":[\"" CID
                     "\",\"x\"],\"azp\":\"" CID "\",\"exp\":1700000300,"
                     "\"iat\":1700000000,\"nonce\":\"" NONCE "\"}")),
        HS_OK);
    expect(claims("{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":\"" CID
                  "\",\"azp\":\"x\",\"exp\":1700000300,\"iat\":1700000000,"
                  "\"nonce\":\"" NONCE "\"}"),
           HS_ERR_DENIED, "wrong_azp");
}

static void test_malformed(void **st)
{
    (void)st;
    /* missing nonce, missing sub, alg none, two parts, bad base64, a
     * payload that is not an object */
    expect(claims("{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":\"" CID
                  "\",\"exp\":1700000300,\"iat\":1700000000}"),
           HS_ERR_DECODE, "malformed");
    expect(claims("{\"iss\":\"" ISS "\",\"aud\":\"" CID "\",\"exp\":"
                  "1700000300,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}"),
           HS_ERR_DECODE, "malformed");
    expect(make("{\"alg\":\"none\"}",
                GOOD_FMT("\"" CID "\"", "1700000300", "1700000000", NONCE)),
           HS_ERR_DECODE, "malformed");
    expect("abc.def", HS_ERR_DECODE, "malformed");
    expect("a.b.c.d", HS_ERR_DECODE, "malformed");
    expect("!!.$$.c", HS_ERR_DECODE, "malformed");
    expect(make("{\"alg\":\"RS256\"}", "[1,2]"), HS_ERR_DECODE, "malformed");
    expect(claims("{\"iss\":\"" ISS "\",\"sub\":\"u\\u0001\",\"aud\":\"" CID
                  "\",\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\""
                  NONCE "\"}"),
           HS_ERR_DECODE, "malformed");
}

static void test_display_claims_dropped_when_unusable(void **st)
{
    char p[1024], email[400];
    (void)st;

    memset(email, 'a', 330);
    email[330] = '\0';
    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":\"" CID
             "\",\"exp\":1700000300,\"iat\":1700000000,\"nonce\":\"" NONCE
             "\",\"email\":\"%s\",\"name\":\"x\\ny\"}",
             email);
    assert_int_equal(check(make("{\"alg\":\"RS256\"}", p)), HS_OK);
    assert_string_equal(id.email, "");
    assert_string_equal(id.name, "");
}

static enum hs_err info(const char *body, const char *expect_sub)
{
    memset(&id, 0, sizeof(id));
    return exchange_userinfo_parse(body, strlen(body), "oauth:github",
                                   expect_sub, &id, why, sizeof(why));
}

static void test_userinfo(void **st)
{
    (void)st;
    assert_int_equal(info("{\"sub\":\"s1\",\"email\":\"e@x\"}", "s1"), HS_OK);
    assert_string_equal(id.subject, "s1");
    assert_string_equal(id.issuer, "oauth:github");
    assert_int_equal(info("{\"id\":583231,\"login\":\"octocat\"}", NULL),
                     HS_OK);
    assert_string_equal(id.subject, "583231");
    assert_string_equal(id.name, "octocat");
    assert_int_equal(info("{\"sub\":\"s2\"}", "s1"), HS_ERR_DENIED);
    assert_string_equal(why, "wrong_sub");
    assert_int_equal(info("[]", NULL), HS_ERR_DECODE);
    assert_int_equal(info("{\"email\":\"e@x\"}", NULL), HS_ERR_DECODE);
    assert_int_equal(info("{\"sub\":5}", NULL), HS_ERR_DECODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_wrong_claims),
        cmocka_unit_test(test_azp),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_display_claims_dropped_when_unusable),
        cmocka_unit_test(test_userinfo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
