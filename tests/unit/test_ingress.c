/* Unit tests of hs-ingress helpers (producers/ingress/ingress.h) that need
 * no connection: HTML escaping of reflected text, cookie names. The routes
 * are tested end to end by tests/integration/test_connect.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "ingress.h"

static void test_html_escape_neutralises_markup(void **st)
{
    char out[128];
    (void)st;

    ingress_html_escape("<script>alert('x')</script> & \"q\"", out,
                        sizeof(out));
    assert_string_equal(out, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
                             " &amp; &quot;q&quot;");
    ingress_html_escape("abc<def", out, 6); /* never cuts an entity */
    assert_string_equal(out, "abc");
    ingress_html_escape("x", out, 1);
    assert_string_equal(out, "");
}

static void test_cookie_names_take_host_prefix_under_https(void **st)
{
    struct ingress in;
    char buf[40];
    (void)st;

    memset(&in, 0, sizeof(in));
    assert_string_equal(ingress_cookie_name(&in, "hs_bind", buf, sizeof(buf)),
                        "hs_bind");
    in.https = 1;
    assert_string_equal(ingress_cookie_name(&in, "hs_bind", buf, sizeof(buf)),
                        "__Host-hs_bind");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape_neutralises_markup),
        cmocka_unit_test(test_cookie_names_take_host_prefix_under_https),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
