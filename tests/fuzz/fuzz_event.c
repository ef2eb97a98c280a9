/*
 * fuzz_event: hostile msgpack against every event decoder that reads a
 * Kafka payload: hs_event_decode (schemas/hs_event.h: hs.callbacks,
 * hs.tokens, hs.me, hs.audit) and hs_webhook_decode (schemas/hs_webhook.h:
 * hs.webhooks). The first input byte picks the decoder; the rest is the
 * payload. A decoded event must encode again, and decode to the same
 * bytes: the codec is its own oracle.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void event(const uint8_t *data, size_t size)
{
    struct hs_event *ev = calloc(2, sizeof(*ev));
    msgpack_sbuffer sb1, sb2;

    if (!ev)
        return;
    msgpack_sbuffer_init(&sb1);
    msgpack_sbuffer_init(&sb2);
    if (hs_event_decode(data, size, &ev[0]) == HS_OK &&
        hs_event_encode(&ev[0], &sb1) == HS_OK) {
        /* What we wrote we must read, and write again identically. */
        if (hs_event_decode(sb1.data, sb1.size, &ev[1]) != HS_OK ||
            hs_event_encode(&ev[1], &sb2) != HS_OK || sb1.size != sb2.size ||
            memcmp(sb1.data, sb2.data, sb1.size) != 0)
            abort();
    }
    msgpack_sbuffer_destroy(&sb1);
    msgpack_sbuffer_destroy(&sb2);
    free(ev);
}

static void webhook(const uint8_t *data, size_t size)
{
    struct hs_webhook wh, wh2;
    msgpack_sbuffer sb1, sb2;

    msgpack_sbuffer_init(&sb1);
    msgpack_sbuffer_init(&sb2);
    if (hs_webhook_decode(data, size, &wh) == HS_OK) {
        if (hs_webhook_encode(&wh, &sb1) == HS_OK) {
            if (hs_webhook_decode(sb1.data, sb1.size, &wh2) != HS_OK)
                abort();
            if (hs_webhook_encode(&wh2, &sb2) != HS_OK ||
                sb1.size != sb2.size ||
                memcmp(sb1.data, sb2.data, sb1.size) != 0)
                abort();
            hs_webhook_free(&wh2);
        }
        hs_webhook_free(&wh);
    }
    msgpack_sbuffer_destroy(&sb1);
    msgpack_sbuffer_destroy(&sb2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        webhook(data + 1, size - 1);
    else
        event(data + 1, size - 1);
    return 0;
}
