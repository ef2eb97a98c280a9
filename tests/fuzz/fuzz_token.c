/*
 * fuzz_token: hostile provider answers against hs-exchange's parsers
 * (workers/exchange/exchange_token.h, exchange_idtoken.h). The first
 * input byte picks one:
 *   0  a token endpoint body (exchange_token_parse);
 *   1  a whole ID token string (exchange_idtoken_check);
 *   2  ID token claims as raw JSON, wrapped here in a header and base64url
 *      so the claim checks see fuzzed JSON rather than fuzzed base64;
 *   3  a userinfo body (exchange_userinfo_parse).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exchange_idtoken.h"
#include "exchange_token.h"
#include "hs_crypto.h"

#define ISS "https://id.example"
#define CID "handshake"
#define NONCE "n0nce-value-123"
#define NOW 1700000000LL
#define HEADER "eyJhbGciOiJSUzI1NiJ9" /* {"alg":"RS256"} */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void token(const uint8_t *data, size_t size)
{
    struct exchange_token *tok = malloc(sizeof(*tok));

    if (!tok)
        return;
    (void)exchange_token_parse((const char *)data, size, tok);
    exchange_token_wipe(tok);
    free(tok);
}

static void idtoken(const char *jwt)
{
    struct exchange_identity id;
    char why[64];

    (void)exchange_idtoken_check(jwt, ISS, CID, NONCE, NOW, &id, why,
                                 sizeof(why));
}

static void idtoken_raw(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
        idtoken(s);
    }
    free(s);
}

static void idtoken_claims(const uint8_t *data, size_t size)
{
    size_t cap = sizeof(HEADER) + 1 + size / 3 * 4 + 8 + 5;
    char *s;

    if (size > EXCHANGE_IDTOKEN_MAX)
        return;
    s = malloc(cap);
    if (!s)
        return;
    memcpy(s, HEADER ".", sizeof(HEADER));
    if (hs_b64url_encode(data, size, s + sizeof(HEADER),
                         cap - sizeof(HEADER) - 4) == HS_OK) {
        size_t n = strlen(s);

        memcpy(s + n, ".sig", 5); /* the encode left room for it */
        idtoken(s);
    }
    free(s);
}

static void userinfo(const uint8_t *data, size_t size)
{
    struct exchange_identity id;
    char why[64];

    (void)exchange_userinfo_parse((const char *)data, size, ISS,
                                  size & 1 ? "u1" : NULL, &id, why,
                                  sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] & 3) {
    case 0:
        token(data + 1, size - 1);
        break;
    case 1:
        idtoken_raw(data + 1, size - 1);
        break;
    case 2:
        idtoken_claims(data + 1, size - 1);
        break;
    default:
        userinfo(data + 1, size - 1);
    }
    return 0;
}
