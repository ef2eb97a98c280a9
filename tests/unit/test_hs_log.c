/* Unit tests of lib/hs_log: one JSON object per line, escaped, filtered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_log.h"

/* Runs the logging in f with stderr sent to a temp file; returns the
 * lines as a JSON array of parsed objects (NULL for a line that is not). */
static json_t *capture(void (*f)(void))
{
    char path[] = "/tmp/hs-log-test.XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    FILE *in;
    char line[4096];
    json_t *lines = json_array();

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    in = fopen(path, "r");
    assert_non_null(in);
    while (fgets(line, sizeof(line), in))
        json_array_append_new(lines, json_loads(line, 0, NULL));
    fclose(in);
    unlink(path);
    return lines;
}

static void write_lines(void)
{
    hs_log_init("hs-test", HS_LOG_INFO);
    hs_log(HS_LOG_DEBUG, "not.shown");
    hs_log(HS_LOG_INFO, "plain.event");
    hs_log(HS_LOG_WARN, "with.fields", HS_KV_STR("q", "say \"hi\"\n<b>"),
           HS_KV_INT("n", -42), HS_KV_STR("none", NULL));
    hs_log(HS_LOG_ERROR, "bad.utf8", HS_KV_STR("s", "\xff\xfe"));
}

static void test_lines_are_json_objects_with_the_common_keys(void **st)
{
    json_t *lines = capture(write_lines), *o;
    (void)st;

    assert_int_equal(json_array_size(lines), 3); /* debug filtered out */
    o = json_array_get(lines, 0);
    assert_true(json_is_object(o));
    assert_true(json_integer_value(json_object_get(o, "ts")) > 1600000000000);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "svc")),
                        "hs-test");
    assert_string_equal(json_string_value(json_object_get(o, "event")),
                        "plain.event");
    o = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(o, "q")),
                        "say \"hi\"\n<b>");
    assert_int_equal(json_integer_value(json_object_get(o, "n")), -42);
    assert_true(json_is_null(json_object_get(o, "none")));
    o = json_array_get(lines, 2);
    assert_string_equal(json_string_value(json_object_get(o, "level")),
                        "error");
    assert_string_equal(json_string_value(json_object_get(o, "s")),
                        "[not utf-8]");
    json_decref(lines);
}

static void test_levels(void **st)
{
    enum hs_log_level lv = HS_LOG_ERROR;
    (void)st;

    assert_int_equal(hs_log_level_parse("warn", &lv), 0);
    assert_int_equal(lv, HS_LOG_WARN);
    assert_int_equal(hs_log_level_parse("WARN", &lv), -1);
    assert_int_equal(lv, HS_LOG_WARN);
    hs_log_init("x", HS_LOG_WARN);
    assert_false(hs_log_enabled(HS_LOG_INFO));
    assert_true(hs_log_enabled(HS_LOG_ERROR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_json_objects_with_the_common_keys),
        cmocka_unit_test(test_levels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
