/* Unit tests of lib/hs_metrics: the exposition text, label escaping,
 * cumulative buckets, type checks and the series cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_metrics.h"

static void test_exposition(void **st)
{
    char labels[128], *text;
    (void)st;

    hs_metrics_family("t_requests_total", HS_COUNTER, "Requests");
    hs_metrics_family("t_requests_total", HS_GAUGE, "ignored: declared");
    hs_metrics_family("t_open", HS_GAUGE, "Open");
    hs_metrics_family("t_seconds", HS_HISTOGRAM, "Latency");
    hs_metrics_add("t_requests_total",
                   hs_metrics_labels(labels, sizeof(labels), "route",
                                     "/a/{p}", "status", "200"),
                   1);
    hs_metrics_add("t_requests_total", labels, 2);
    hs_metrics_add("t_requests_total",
                   hs_metrics_labels(labels, sizeof(labels), "route",
                                     "q\"\\\n", NULL, NULL),
                   1);
    hs_metrics_set("t_open", "", 7);
    hs_metrics_set("t_open", "", 5);
    hs_metrics_observe("t_seconds", "", 0.003);
    hs_metrics_observe("t_seconds", "", 0.2);
    hs_metrics_observe("t_seconds", "", 60);
    /* Wrong type or unknown family: dropped. */
    hs_metrics_set("t_requests_total", "", 9);
    hs_metrics_add("t_unknown", "", 1);
    text = hs_metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP t_requests_total Requests\n"
                                 "# TYPE t_requests_total counter\n"
                                 "t_requests_total{route=\"/a/{p}\","
                                 "status=\"200\"} 3\n"
                                 "t_requests_total{route=\"q\\\"\\\\\\n\"}"
                                 " 1\n"));
    assert_non_null(strstr(text, "# TYPE t_open gauge\nt_open 5\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.001\"} 0\n"
                                 "t_seconds_bucket{le=\"0.0025\"} 0\n"
                                 "t_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"0.25\"} 2\n"));
    assert_non_null(strstr(text, "t_seconds_bucket{le=\"10\"} 2\n"
                                 "t_seconds_bucket{le=\"+Inf\"} 3\n"
                                 "t_seconds_sum 60.203000000000003\n"
                                 "t_seconds_count 3\n"));
    assert_null(strstr(text, "t_unknown"));
    assert_null(strstr(text, "t_requests_total 9"));
    free(text);
}

static void test_labels_that_do_not_fit_are_empty(void **st)
{
    char small[12];
    (void)st;

    assert_string_equal(hs_metrics_labels(small, sizeof(small), "k", "v",
                                          NULL, NULL),
                        "k=\"v\"");
    assert_string_equal(hs_metrics_labels(small, sizeof(small), "key",
                                          "a long value", NULL, NULL),
                        "");
}

static void test_series_are_capped(void **st)
{
    char labels[64], *text;
    (void)st;

    hs_metrics_family("t_many_total", HS_COUNTER, "Many");
    for (int i = 0; i < HS_METRICS_SERIES_MAX + 10; i++) {
        char v[16];

        snprintf(v, sizeof(v), "%d", i);
        hs_metrics_add("t_many_total",
                       hs_metrics_labels(labels, sizeof(labels), "i", v,
                                         NULL, NULL),
                       1);
    }
    text = hs_metrics_render();
    assert_non_null(text);
    assert_null(strstr(text, "t_many_total{i=\"2050\"}"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_labels_that_do_not_fit_are_empty),
        cmocka_unit_test(test_series_are_capped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
