/*
 * fuzz_seeds: writes the binary seeds of the committed corpus with the
 * real encoders, so they stay valid when a codec changes:
 *   <dir>/fuzz_state/   sealed states (hs_state_mint, the fuzzer's key)
 *   <dir>/fuzz_event/   one event of each type, and both webhook events
 * Each file starts with the mode byte its fuzzer reads first. Run by
 * tests/fuzz/make_corpus; not a fuzzer itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_event.h"
#include "hs_state.h"
#include "hs_webhook.h"

#define NOW 1800000000000LL

static int put(const char *dir, const char *name, unsigned char mode,
               const void *buf, size_t len)
{
    char path[512];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f)
        return 0;
    ok = fwrite(&mode, 1, 1, f) == 1 && fwrite(buf, 1, len, f) == len;
    return (fclose(f) == 0) & ok;
}

static int states(const char *dir)
{
    static const char *const subjects[] = {"user-1", "", "pk-hash-0123"};
    struct hs_keyring *kr;
    struct hs_state st;
    char s[HS_STATE_MAX], err[128], name[32];
    int ok = 1;

    if (hs_keyring_new("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &kr,
                       err, sizeof(err)) != HS_OK)
        return 0;
    for (int i = 0; i < 3; i++) {
        memset(&st, 0, sizeof(st));
        snprintf(st.env, sizeof(st.env), "%s", i == 2 ? "prod-eu" : "dev");
        snprintf(st.handshake_id, sizeof(st.handshake_id), "%s",
                 "abcdefghijklmnopqrstuv");
        snprintf(st.provider, sizeof(st.provider), "%s", "github");
        st.flow = (enum hs_flow)(HS_FLOW_CONNECT + i);
        snprintf(st.subject, sizeof(st.subject), "%s", subjects[i]);
        snprintf(st.verifier, sizeof(st.verifier), "%s",
                 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        snprintf(st.nonce, sizeof(st.nonce), "%s", "nnnnnnnnnnnnnnnnnnnnnn");
        memset(st.binding, 7 * i, sizeof(st.binding));
        st.issued_ms = NOW - 1000 * i;
        snprintf(name, sizeof(name), "sealed-%d", i);
        ok &= hs_state_mint(kr, &st, s, sizeof(s)) == HS_OK &&
              put(dir, name, 0, s, strlen(s));
    }
    hs_keyring_free(kr);
    return ok;
}

static void common(struct hs_event *ev)
{
    snprintf(ev->handshake_id, sizeof(ev->handshake_id), "h-1");
    snprintf(ev->provider, sizeof(ev->provider), "github");
    snprintf(ev->user_id, sizeof(ev->user_id), "u-1");
    snprintf(ev->kid, sizeof(ev->kid), "k1");
    snprintf(ev->token_type, sizeof(ev->token_type), "Bearer");
    snprintf(ev->scopes, sizeof(ev->scopes), "repo read:user");
    ev->expires_at = NOW + 3600000;
    ev->flow = 1;
    snprintf(ev->subject, sizeof(ev->subject), "user-1");
    memset(ev->sealed, 's', 40);
    ev->sealed_len = 40;
}

static int events(const char *dir)
{
    struct hs_event *ev = calloc(1, sizeof(*ev));
    char name[40];
    int ok = ev != NULL;

    for (int t = HS_EV_CALLBACK_RECEIVED; ok && t <= HS_EV_AUDIT; t++) {
        msgpack_sbuffer sb;

        hs_event_init(ev, (enum hs_event_type)t, "dev", NOW);
        common(ev);
        if (t == HS_EV_PROVIDER_DISCONNECTED || t == HS_EV_REAUTH_REQUIRED ||
            t == HS_EV_AUDIT)
            ev->sealed_len = 0;
        if (t == HS_EV_CONNECT_FAILED) {
            ev->sealed_len = 0;
            snprintf(ev->error, sizeof(ev->error), "access_denied");
        }
        if (t == HS_EV_AUDIT) {
            snprintf(ev->svc, sizeof(ev->svc), "hs-ingress");
            snprintf(ev->action, sizeof(ev->action), "callback");
            snprintf(ev->outcome, sizeof(ev->outcome), "ok");
            ev->seq = 7;
            memset(ev->sig, 1, 64);
            ev->sig_len = 64;
        }
        msgpack_sbuffer_init(&sb);
        snprintf(name, sizeof(name), "event-%s", hs_event_type_name(t));
        if (hs_event_encode(ev, &sb) == HS_OK)
            ok &= put(dir, name, 0, sb.data, sb.size);
        else
            fprintf(stderr, "fuzz_seeds: %s does not encode\n", name);
        msgpack_sbuffer_destroy(&sb);
        /* the same event on hs.me: boxed to one agent, not sealed */
        if (t == HS_EV_TOKEN_ISSUED) {
            ev->sealed_len = 0;
            memset(ev->box, 'b', 60);
            ev->box_len = 60;
            snprintf(ev->agent_id, sizeof(ev->agent_id), "a-1");
            msgpack_sbuffer_init(&sb);
            if (hs_event_encode(ev, &sb) == HS_OK)
                ok &= put(dir, "event-me", 0, sb.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
        }
    }
    free(ev);
    return ok;
}

static int webhooks(const char *dir)
{
    static unsigned char sealed[32] = "sealed-request";
    struct hs_webhook wh;
    int ok = 1;

    for (int t = HS_WH_RECEIVED; t <= HS_WH_RELAYED; t++) {
        msgpack_sbuffer sb;

        hs_webhook_init(&wh, (enum hs_webhook_type)t, "dev", NOW);
        snprintf(wh.provider, sizeof(wh.provider), "slack");
        if (t == HS_WH_RECEIVED) {
            wh.sealed = sealed;
            wh.sealed_len = sizeof(sealed);
        } else {
            snprintf(wh.ref, sizeof(wh.ref), "ref-1");
            wh.status = 200;
        }
        msgpack_sbuffer_init(&sb);
        ok &= hs_webhook_encode(&wh, &sb) == HS_OK &&
              put(dir, t == HS_WH_RECEIVED ? "webhook-received"
                                           : "webhook-relayed",
                  1, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    return ok;
}

int main(int argc, char **argv)
{
    char dir[400];

    if (argc != 2 || hs_crypto_init() != 0) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/fuzz_state", argv[1]);
    if (!states(dir))
        return 1;
    snprintf(dir, sizeof(dir), "%s/fuzz_event", argv[1]);
    return events(dir) && webhooks(dir) ? 0 : 1;
}
