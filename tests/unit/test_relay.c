/* Unit tests of relay_request_parse: the sealed JSON becomes the local
 * request; connection headers are left out; bad JSON is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "relay_deliver.h"

static void test_request_is_rebuilt(void **st)
{
    /* body: "a=1&b=\x00x" in base64 */
    const char *json =
        "{\"path\":\"/no-auth/webhooks/slack\",\"query\":\"env=qa\","
        "\"headers\":[[\"Host\",\"public.example\"],[\"Content-Length\","
        "\"9\"],[\"X-Slack-Signature\",\"v0=ab\"],[\"connection\","
        "\"close\"],[\"Content-Type\",\"application/x-www-form-urlencoded\"]"
        "],\"body\":\"YT0xJmI9AHg=\"}";
    struct relay_request rq;
    (void)st;

    assert_int_equal(relay_request_parse(json, strlen(json),
                                         "http://app:8080", &rq),
                     HS_OK);
    assert_string_equal(rq.url,
                        "http://app:8080/no-auth/webhooks/slack?env=qa");
    assert_int_equal(rq.blen, 8);
    assert_memory_equal(rq.body, "a=1&b=\0x", 8);
    assert_string_equal(rq.headers[0], "X-Slack-Signature: v0=ab");
    assert_string_equal(rq.headers[1],
                        "Content-Type: application/x-www-form-urlencoded");
    assert_null(rq.headers[2]);
    relay_request_free(&rq);
}

static void test_bad_requests_are_refused(void **st)
{
    static const char *const bad[] = {
        "not json",
        "{\"query\":\"\",\"headers\":[],\"body\":\"\"}",
        "{\"path\":\"x\",\"query\":\"\",\"headers\":[],\"body\":\"\"}",
        "{\"path\":\"/p\",\"query\":\"\",\"headers\":{},\"body\":\"\"}",
        "{\"path\":\"/p\",\"query\":\"\",\"headers\":[[\"A\"]],\"body\":\"\"}",
        "{\"path\":\"/p\",\"query\":\"\",\"headers\":[[\"\",\"v\"]],"
        "\"body\":\"\"}",
        "{\"path\":\"/p\",\"query\":\"\",\"headers\":[],\"body\":\"***\"}",
        "{\"path\":\"/p\",\"path\":\"/q\",\"query\":\"\",\"headers\":[],"
        "\"body\":\"\"}",
    };
    (void)st;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct relay_request rq;

        if (relay_request_parse(bad[i], strlen(bad[i]), "http://a", &rq) !=
            HS_ERR_DECODE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(rq.url);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_is_rebuilt),
        cmocka_unit_test(test_bad_requests_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
