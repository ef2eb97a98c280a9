/* Unit tests of tools/replay: sequence ranges and times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "replay_seq.h"
#include "replay_time.h"

static char found[4096];

static void collect(void *arg, const char *svc, int64_t lo, int64_t hi)
{
    (void)arg;
    snprintf(found + strlen(found), sizeof(found) - strlen(found),
             "%s:%lld-%lld ", svc, (long long)lo, (long long)hi);
}

static const char *gaps(struct replay_seqs *s)
{
    found[0] = '\0';
    replay_seqs_gaps(s, collect, NULL);
    return found;
}

static void test_gaps_and_repeats_in_any_order(void **st)
{
    struct replay_seqs *s = replay_seqs_new();
    static const int64_t order[] = {5, 3, 1, 2, 9, 4, 10, 8};
    (void)st;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        assert_int_equal(replay_seqs_add(s, "a", order[i]), 1);
    assert_string_equal(gaps(s), "a:6-7 ");
    assert_int_equal(replay_seqs_add(s, "a", 4), 0);  /* repeat */
    assert_int_equal(replay_seqs_add(s, "a", 10), 0);
    assert_int_equal(replay_seqs_add(s, "a", 7), 1);
    assert_string_equal(gaps(s), "a:6-6 ");
    assert_int_equal(replay_seqs_add(s, "a", 6), 1); /* closes the gap */
    assert_string_equal(gaps(s), "");
    /* Another producer: a missing start, middle and nothing after. */
    assert_int_equal(replay_seqs_add(s, "b", 3), 1);
    assert_int_equal(replay_seqs_add(s, "b", 6), 1);
    assert_string_equal(gaps(s), "b:1-2 b:4-5 ");
    assert_int_equal(replay_seqs_producers(s), 2);
    assert_int_equal(replay_seqs_add(s, "b", 0), -1);
    assert_int_equal(replay_seqs_add(s, "b", -5), -1);
    replay_seqs_free(s);
}

/* Two million seqs, every other one first, then the rest backwards: the
 * ranges merge down to one. */
static void test_millions_fold_into_one_range(void **st)
{
    struct replay_seqs *s = replay_seqs_new();
    (void)st;

    for (int64_t i = 1; i <= 2000000; i += 2)
        assert_int_equal(replay_seqs_add(s, "p", i), 1);
    assert_int_equal(replay_seqs_gaps(s, NULL, NULL), 999999);
    for (int64_t i = 1999998; i >= 2; i -= 2)
        assert_int_equal(replay_seqs_add(s, "p", i), 1);
    assert_int_equal(replay_seqs_gaps(s, NULL, NULL), 0);
    assert_int_equal(replay_seqs_add(s, "p", 1000000), 0);
    replay_seqs_free(s);
}

static void test_times(void **st)
{
    (void)st;
    assert_int_equal(replay_parse_time("0"), 0);
    assert_int_equal(replay_parse_time("1796426305787"), 1796426305787LL);
    assert_int_equal(replay_parse_time("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(replay_parse_time("2026-12-04T10:00:00Z"),
                     1796378400000LL);
    assert_int_equal(replay_parse_time("2026-12-04T10:00:00.25Z"),
                     1796378400250LL);
    assert_int_equal(replay_parse_time("2000-02-29T23:59:59Z"),
                     951868799000LL);
    static const char *const bad[] = {
        "", "x", "-1", "12a", "2026-12-04", "2026-12-04T10:00:00",
        "2026-13-04T10:00:00Z", "2026-12-04T24:00:00Z",
        "2026-12-04T10:00:00+01:00", "2026-12-04 10:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(replay_parse_time(bad[i]), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaps_and_repeats_in_any_order),
        cmocka_unit_test(test_millions_fold_into_one_range),
        cmocka_unit_test(test_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
