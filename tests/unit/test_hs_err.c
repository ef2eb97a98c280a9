/* Unit tests of lib/hs_err: every code has a text and one class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hs_err.h"

static void test_every_code_has_a_distinct_text(void **st)
{
    (void)st;
    for (int a = HS_ERR_UNRECORDED; a <= HS_OK; a++) {
        const char *ta = hs_strerror((enum hs_err)a);

        assert_non_null(ta);
        assert_string_not_equal(ta, "unknown error");
        for (int b = HS_ERR_UNRECORDED; b < a; b++)
            assert_string_not_equal(ta, hs_strerror((enum hs_err)b));
    }
    assert_string_equal(hs_strerror((enum hs_err)-99), "unknown error");
}

static void test_only_transient_timeout_and_unrecorded_are_retriable(void **st)
{
    (void)st;
    for (int c = HS_ERR_UNRECORDED; c <= HS_OK; c++)
        assert_int_equal(hs_err_is_retriable((enum hs_err)c),
                         c == HS_ERR_TRANSIENT || c == HS_ERR_TIMEOUT ||
                             c == HS_ERR_UNRECORDED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_distinct_text),
        cmocka_unit_test(test_only_transient_timeout_and_unrecorded_are_retriable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
