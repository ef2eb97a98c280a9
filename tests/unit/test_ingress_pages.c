/* Unit tests of producers/ingress/ingress_pages.h: HTML escaping of
 * reflected text, the page skeleton, and the words of the handshake
 * progress page for every status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ingress_pages.h"

static void test_html_escape_neutralises_markup(void **st)
{
    char out[128];
    (void)st;

    assert_int_equal(ingress_html_escape("<script>alert('x')</script> & "
                                         "\"q\"", out, sizeof(out)), HS_OK);
    assert_string_equal(out, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
                             " &amp; &quot;q&quot;");
    assert_int_equal(ingress_html_escape("a\x01" "b\nc\x7f", out,
                                         sizeof(out)), HS_OK);
    assert_string_equal(out, "abc"); /* control characters dropped */
    assert_int_equal(ingress_html_escape("caf\xc3\xa9", out, sizeof(out)),
                     HS_OK);
    assert_string_equal(out, "caf\xc3\xa9");
}

static void test_html_escape_truncates_safely(void **st)
{
    char out[8];
    (void)st;

    /* never cuts an entity */
    assert_int_equal(ingress_html_escape("abc<def", out, 6), HS_ERR_TOOBIG);
    assert_string_equal(out, "abc");
    /* never cuts a UTF-8 sequence: "ab" + 3-byte "…" needs 6 bytes */
    assert_int_equal(ingress_html_escape("ab\xe2\x80\xa6", out, 5),
                     HS_ERR_TOOBIG);
    assert_string_equal(out, "ab");
    assert_int_equal(ingress_html_escape("ab\xe2\x80\xa6", out, 6), HS_OK);
    assert_string_equal(out, "ab\xe2\x80\xa6");
    assert_int_equal(ingress_html_escape("x", out, 1), HS_ERR_TOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(ingress_html_escape("x", out, 0), HS_ERR_TOOBIG);
}

static void test_page_escapes_title_and_text(void **st)
{
    struct ingress_page pg;
    char *html;
    (void)st;

    assert_int_equal(ingress_page_plain(&pg, 400, "<T>", "a<b>&\"c\""),
                     HS_OK);
    assert_int_equal(pg.status, 400);
    assert_string_equal(pg.html, "<p>a&lt;b&gt;&amp;&quot;c&quot;</p>");
    html = ingress_page_render(&pg);
    assert_non_null(html);
    assert_non_null(strstr(html, "<title>&lt;T&gt;</title>"));
    assert_non_null(strstr(html, "<h1>&lt;T&gt;</h1>"));
    assert_null(strstr(html, "<T>"));
    assert_null(strstr(html, "http-equiv=\"refresh\""));
    assert_null(strstr(html, "<script"));
    free(html);
}

static void test_page_plain_reports_truncation(void **st)
{
    struct ingress_page pg;
    char *text = malloc(sizeof(pg.html) + 10);
    (void)st;

    assert_non_null(text);
    memset(text, 'x', sizeof(pg.html) + 9);
    text[sizeof(pg.html) + 9] = '\0';
    assert_int_equal(ingress_page_plain(&pg, 200, "t", text), HS_ERR_TOOBIG);
    assert_true(strlen(pg.html) < sizeof(pg.html));
    assert_string_equal(pg.html + strlen(pg.html) - 4, "</p>");
    free(text);
}

struct status_case {
    const char *status, *error;
    int expired;
    const char *want; /* in the body */
    int refresh;
};

static void test_status_page_words(void **st)
{
    static const struct status_case cases[] = {
        {"started", "", 0, "Connecting to Github\xe2\x80\xa6", 1},
        {"exchanging", "", 0, "Connecting to Github\xe2\x80\xa6", 1},
        {"exchanging", "", 1, "Connecting to Github\xe2\x80\xa6", 1},
        {"complete", "", 0,
         "Connected. You can close this tab and return to your editor.", 0},
        {"failed", "access_denied", 0,
         "You declined access at Github. Nothing was connected.", 0},
        {"failed", "provider_timeout", 0,
         "Connecting failed: Github did not answer in time.", 0},
        {"failed", "internal_error", 0,
         "Connecting failed: something went wrong on our side.", 0},
        {"failed", "<b>x</b>", 0,
         "Connecting failed: Github answered &quot;&lt;b&gt;x&lt;/b&gt;"
         "&quot;.", 0},
        {"started", "", 1,
         "This sign-in expired. Start again from your editor.", 0},
    };
    (void)st;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ingress_page pg;

        ingress_status_describe("connect", cases[i].status, cases[i].error,
                                "github",
                                cases[i].expired, &pg);
        assert_int_equal(pg.status, 200);
        if (!strstr(pg.html, cases[i].want))
            fail_msg("case %zu: %s lacks %s", i, pg.html, cases[i].want);
        assert_int_equal(pg.refresh_s, cases[i].refresh);
        assert_null(strstr(pg.html, "<b>"));
    }
}

static void test_signin_pages_say_signed_in(void **st)
{
    struct ingress_page pg;
    (void)st;

    ingress_status_describe("signup", "complete", "", "demo", 0, &pg);
    assert_non_null(strstr(pg.html, "Signed in."));
    ingress_status_describe("session", "failed", "access_denied", "demo", 0,
                            &pg);
    assert_non_null(strstr(pg.html, "You declined access at Demo. Nobody "
                                    "was signed in."));
    ingress_status_describe("signup", "failed", "invalid_id_token", "demo", 0,
                            &pg);
    assert_non_null(strstr(pg.html, "Signing in failed: Demo sent an "
                                    "identity we could not trust."));
    ingress_status_describe("connect", "complete", "", "demo", 0, &pg);
    assert_null(strstr(pg.html, "Signed in"));
}

static void test_url_origin(void **st)
{
    char o[64];
    (void)st;

    assert_int_equal(ingress_url_origin("https://id.example:8443/a?b", o,
                                        sizeof(o)),
                     HS_OK);
    assert_string_equal(o, "https://id.example:8443");
    assert_int_equal(ingress_url_origin("http://127.0.0.1:5/auth", o,
                                        sizeof(o)),
                     HS_OK);
    assert_string_equal(o, "http://127.0.0.1:5");
    assert_int_equal(ingress_url_origin("https://h", o, sizeof(o)), HS_OK);
    assert_string_equal(o, "https://h");
    assert_int_equal(ingress_url_origin("ftp://h/", o, sizeof(o)),
                     HS_ERR_INVALID);
    assert_int_equal(ingress_url_origin("https:///x", o, sizeof(o)),
                     HS_ERR_INVALID);
    /* nothing that could end the CSP directive or smuggle a source */
    assert_int_equal(ingress_url_origin("https://a;script-src *", o,
                                        sizeof(o)),
                     HS_ERR_INVALID);
    assert_int_equal(ingress_url_origin("https://a b/", o, sizeof(o)),
                     HS_ERR_INVALID);
    assert_int_equal(ingress_url_origin("https://u@h/", o, sizeof(o)),
                     HS_ERR_INVALID);
    assert_int_equal(ingress_url_origin("https://very-long-host/", o, 10),
                     HS_ERR_TOOBIG);
}

static void test_refresh_meta_rendered(void **st)
{
    struct ingress_page pg;
    char *html;
    (void)st;

    ingress_status_describe("connect", "started", "", "demo", 0, &pg);
    html = ingress_page_render(&pg);
    assert_non_null(html);
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" "
                                 "content=\"1\">"));
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape_neutralises_markup),
        cmocka_unit_test(test_html_escape_truncates_safely),
        cmocka_unit_test(test_page_escapes_title_and_text),
        cmocka_unit_test(test_page_plain_reports_truncation),
        cmocka_unit_test(test_status_page_words),
        cmocka_unit_test(test_refresh_meta_rendered),
        cmocka_unit_test(test_signin_pages_say_signed_in),
        cmocka_unit_test(test_url_origin),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
