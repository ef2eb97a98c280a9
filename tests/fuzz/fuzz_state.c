/*
 * fuzz_state: hostile OAuth state strings against hs_state_verify
 * (lib/hs_state.h), the first thing the callback route does with a
 * browser's bytes.
 *
 * A fuzzer cannot forge the AEAD tag, so the first input byte picks a mode:
 *   0  the rest is a state string, verified as the callback would;
 *   1  the rest is a plaintext sealed with the real key under env "dev":
 *      this reaches the field parser that runs only after the MAC;
 *   2  the rest, split at NULs, fills a struct hs_state that is minted and
 *      verified: a state that mints must verify to the same fields.
 * The key is fixed so the committed seeds (real sealed states) stay valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hs_state.h"

#define NOW 1800000000000LL
#define TTL 600000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hs_keyring *kr;

static struct hs_keyring *keyring(void)
{
    char err[128];

    if (!kr && (hs_crypto_init() != 0 ||
                hs_keyring_new("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                               &kr, err, sizeof(err)) != HS_OK))
        abort();
    return kr;
}

/* mode 0: the input as a NUL-terminated state. */
static void verify_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct hs_state st;
    char env[32];

    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)hs_state_verify(keyring(), s, NOW, TTL, &st);
    (void)hs_state_env(s, env, sizeof(env));
    free(s);
}

/* mode 1: a sealed arbitrary plaintext, so the post-MAC parser sees it. */
static void verify_plaintext(const uint8_t *data, size_t size)
{
    unsigned char blob[HS_STATE_MAX];
    char s[HS_STATE_MAX * 2];
    size_t n;
    struct hs_state st;

    if (hs_aead_seal(keyring(), HS_KEY_STATE, data, size, "dev", 3, blob,
                     sizeof(blob), &n) != HS_OK)
        return;
    memcpy(s, "dev.", 4);
    if (hs_b64url_encode(blob, n, s + 4, sizeof(s) - 4) != HS_OK)
        return;
    (void)hs_state_verify(keyring(), s, NOW, TTL, &st);
}

/* Copies the next NUL-separated piece of data into out (truncated). */
static void next_field(const uint8_t **p, size_t *left, char *out, size_t cap)
{
    size_t n = 0;

    while (n < *left && (*p)[n] != 0)
        n++;
    memcpy(out, *p, n < cap - 1 ? n : cap - 1);
    out[n < cap - 1 ? n : cap - 1] = '\0';
    if (n < *left)
        n++; /* the NUL */
    *p += n;
    *left -= n;
}

/* mode 2: mint then verify must give back every field. */
static void round_trip(const uint8_t *data, size_t size)
{
    struct hs_state in, out;
    char s[HS_STATE_MAX];

    memset(&in, 0, sizeof(in));
    if (size < 1)
        return;
    in.flow = (enum hs_flow)(data[0] % 6);
    data++, size--;
    next_field(&data, &size, in.env, sizeof(in.env));
    next_field(&data, &size, in.handshake_id, sizeof(in.handshake_id));
    next_field(&data, &size, in.provider, sizeof(in.provider));
    next_field(&data, &size, in.subject, sizeof(in.subject));
    next_field(&data, &size, in.verifier, sizeof(in.verifier));
    next_field(&data, &size, in.nonce, sizeof(in.nonce));
    memcpy(in.binding, data, size < 32 ? size : 32);
    in.issued_ms = NOW;
    if (hs_state_mint(keyring(), &in, s, sizeof(s)) != HS_OK)
        return;
    /* A minted state must open to what was sealed (field by field: the
     * struct has padding). */
    if (hs_state_verify(keyring(), s, NOW, TTL, &out) != HS_OK ||
        strcmp(in.env, out.env) != 0 ||
        strcmp(in.handshake_id, out.handshake_id) != 0 ||
        strcmp(in.provider, out.provider) != 0 || in.flow != out.flow ||
        strcmp(in.subject, out.subject) != 0 ||
        strcmp(in.verifier, out.verifier) != 0 ||
        strcmp(in.nonce, out.nonce) != 0 ||
        memcmp(in.binding, out.binding, sizeof(in.binding)) != 0 ||
        in.issued_ms != out.issued_ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        verify_string(data + 1, size - 1);
        break;
    case 1:
        verify_plaintext(data + 1, size - 1);
        break;
    default:
        round_trip(data + 1, size - 1);
    }
    return 0;
}
