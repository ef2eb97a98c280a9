/* Unit tests of lib/hs_log: one JSON object per line, escaped, filtered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hs_log.h"

static char raw[1 << 20]; /* every line a test writes */

/* Runs the logging in f with stderr sent to a temp file; keeps the raw
 * text in raw. */
static void capture_raw(void (*f)(void))
{
    char path[] = "/tmp/hs-log-test.XXXXXX"; /* mkstemp's template */
    int fd = mkstemp(path), saved = dup(2);
    ssize_t n;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, raw, sizeof(raw) - 1, 0);
    assert_true(n >= 0 && (size_t)n < sizeof(raw) - 1);
    raw[n] = '\0';
    close(fd);
    unlink(path);
}

/* The same, as a JSON array of the parsed lines (NULL for a line that is
 * not JSON). */
static json_t *capture(void (*f)(void))
{
    json_t *lines = json_array();
    char *line = raw, *nl;

    capture_raw(f);
    for (; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            nl = line + strlen(line) - 1;
        json_array_append_new(
            lines, json_loadb(line, (size_t)(nl - line) + 1, 0, NULL));
    }
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

static void write_every_level(void)
{
    hs_log_init("hs-levels", HS_LOG_DEBUG);
    hs_log(HS_LOG_DEBUG, "a.debug");
    hs_log(HS_LOG_INFO, "a.info");
    hs_log(HS_LOG_WARN, "a.warn");
    hs_log(HS_LOG_ERROR, "a.error");
    hs_log_init("hs-levels", HS_LOG_ERROR);
    hs_log(HS_LOG_WARN, "b.warn");
    hs_log(HS_LOG_ERROR, "b.error");
}

static void test_level_names_and_filtering(void **st)
{
    static const char *const want[][2] = {{"debug", "a.debug"},
                                          {"info", "a.info"},
                                          {"warn", "a.warn"},
                                          {"error", "a.error"},
                                          {"error", "b.error"}};
    json_t *lines = capture(write_every_level);
    (void)st;

    assert_int_equal(json_array_size(lines), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *o = json_array_get(lines, i);

        assert_true(json_is_object(o));
        assert_string_equal(json_string_value(json_object_get(o, "level")),
                            want[i][0]);
        assert_string_equal(json_string_value(json_object_get(o, "event")),
                            want[i][1]);
        assert_string_equal(json_string_value(json_object_get(o, "svc")),
                            "hs-levels");
    }
    json_decref(lines);
}

static void write_hostile_values(void)
{
    hs_log_init("hs-test", HS_LOG_INFO);
    hs_log(HS_LOG_INFO, "hostile", HS_KV_STR("q", "a\"b\\c\nd\re\tf\x01g"),
           HS_KV_STR("fake", "\"}\n{\"level\":\"error\""),
           HS_KV_INT("big", INT64_MIN));
}

/* Quotes, backslashes, newlines and control characters are escaped: the
 * line stays one JSON object and nothing forges a second one. */
static void test_hostile_values_stay_on_one_line(void **st)
{
    json_t *o;
    char *nl;
    (void)st;

    capture_raw(write_hostile_values);
    assert_true(raw[0] != '\0');
    nl = strchr(raw, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0'); /* exactly one line */
    assert_int_equal(strncmp(raw, "{\"ts\":", 6), 0);
    assert_non_null(strstr(raw, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g"));
    o = json_loads(raw, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "q")),
                        "a\"b\\c\nd\re\tf\x01g");
    assert_string_equal(json_string_value(json_object_get(o, "fake")),
                        "\"}\n{\"level\":\"error\"");
    assert_string_equal(json_string_value(json_object_get(o, "level")),
                        "info");
    assert_true(json_integer_value(json_object_get(o, "big")) == INT64_MIN);
    json_decref(o);
}

static void write_bad_utf8(void)
{
    hs_log_init("hs-test", HS_LOG_INFO);
    hs_log(HS_LOG_INFO, "utf8", HS_KV_STR("overlong", "\xc0\xaf"),
           HS_KV_STR("cut", "ab\xe2\x82"), HS_KV_STR("ok", "\xe2\x82\xac"),
           HS_KV_STR("surrogate", "\xed\xa0\x80"));
}

static void test_invalid_utf8_is_marked_and_valid_is_kept(void **st)
{
    json_t *lines = capture(write_bad_utf8), *o;
    (void)st;

    assert_int_equal(json_array_size(lines), 1);
    o = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(o, "overlong")),
                        "[not utf-8]");
    assert_string_equal(json_string_value(json_object_get(o, "cut")),
                        "[not utf-8]");
    assert_string_equal(json_string_value(json_object_get(o, "surrogate")),
                        "[not utf-8]");
    assert_string_equal(json_string_value(json_object_get(o, "ok")),
                        "\xe2\x82\xac");
    json_decref(lines);
}

#define NTHREADS 4
#define PER_THREAD 200

static void *log_many(void *arg)
{
    for (int i = 0; i < PER_THREAD; i++)
        hs_log(HS_LOG_INFO, "many", HS_KV_INT("t", (long)(intptr_t)arg),
               HS_KV_INT("i", i),
               HS_KV_STR("pad", "0123456789012345678901234567890123456789"
                                "0123456789012345678901234567890123456789"));
    return NULL;
}

static void write_from_threads(void)
{
    pthread_t th[NTHREADS];

    hs_log_init("hs-threads", HS_LOG_INFO);
    for (intptr_t t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, log_many, (void *)t),
                         0);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
}

/* Every line of write is a JSON object, and each of the writers 0..n-1
 * wrote per of them. */
static void check_whole_lines(void (*write)(void), int n, int per)
{
    json_t *lines = capture(write), *o;
    size_t i;
    int count[8] = {0};

    assert_true(n <= 8);
    assert_int_equal(json_array_size(lines), (size_t)(n * per));
    json_array_foreach(lines, i, o) {
        json_int_t t = json_integer_value(json_object_get(o, "t"));

        assert_true(json_is_object(o));
        assert_true(t >= 0 && t < n);
        count[t]++;
    }
    for (int t = 0; t < n; t++)
        assert_int_equal(count[t], per);
    json_decref(lines);
}

/* Lines written from several threads never interleave. */
static void test_threads_write_whole_lines(void **st)
{
    (void)st;
    check_whole_lines(write_from_threads, NTHREADS, PER_THREAD);
}

#define NPROCS 4
#define ROUNDS 5 /* of log_many a process */

static void write_from_processes(void)
{
    pid_t kids[NPROCS];

    hs_log_init("hs-procs", HS_LOG_INFO);
    for (intptr_t t = 0; t < NPROCS; t++) {
        kids[t] = fork();
        assert_true(kids[t] >= 0);
        if (kids[t] == 0) {
            for (int r = 0; r < ROUNDS; r++)
                log_many((void *)t);
            _exit(0);
        }
    }
    for (int t = 0; t < NPROCS; t++)
        assert_int_equal(waitpid(kids[t], NULL, 0), kids[t]);
}

/* Nor from processes sharing the file, as hs-dev's children do (the
 * same file offset, no O_APPEND): each line is one write. */
static void test_processes_write_whole_lines(void **st)
{
    (void)st;
    check_whole_lines(write_from_processes, NPROCS, ROUNDS * PER_THREAD);
}

static void test_now_ms_is_the_wall_clock(void **st)
{
    int64_t a = hs_now_ms(), b = hs_now_ms();
    (void)st;

    assert_true(a > 1600000000000LL && a < 4102444800000LL);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_are_json_objects_with_the_common_keys),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_level_names_and_filtering),
        cmocka_unit_test(test_hostile_values_stay_on_one_line),
        cmocka_unit_test(test_invalid_utf8_is_marked_and_valid_is_kept),
        cmocka_unit_test(test_threads_write_whole_lines),
        cmocka_unit_test(test_processes_write_whole_lines),
        cmocka_unit_test(test_now_ms_is_the_wall_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
