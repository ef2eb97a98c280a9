/*
 * hs_crypto: keyring, AEAD, MACs, sealed boxes, random tokens and hashes,
 * all over libsodium (contract in hs_crypto.h).
 *
 * Each master key of HS_SECRET_KEYS yields one subkey per use
 * (crypto_kdf_derive_from_key, subkey id = enum hs_key_use). The AEAD's
 * associated data given to libsodium is "use|kid|" + the caller's ad, so a
 * blob sealed for one use, or relabelled with another kid, never opens.
 */
#include "hs_crypto.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 8
#define NUSES 6 /* enum hs_key_use values 1..5, index 0 unused */
#define KDF_CTX "hs-keys_"
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_MAX 512

struct key {
    char kid[HS_KID_MAX + 1];
    unsigned char sub[NUSES][HS_KEY_BYTES];
};

struct hs_keyring {
    size_t n;
    struct key keys[MAX_KEYS]; /* keys[0] is active */
};

int hs_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

static int kid_valid(const char *s, size_t len)
{
    if (len == 0 || len > HS_KID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static void set_err(char *err, size_t errlen, size_t entry, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "HS_SECRET_KEYS: entry %zu: %s", entry, what);
}

enum hs_err hs_keyring_new(const char *spec, struct hs_keyring **out,
                           char *err, size_t errlen)
{
    struct hs_keyring *kr;
    const char *p = spec;
    size_t entry = 0;
    enum hs_err rc = HS_ERR_CONFIG;

    if (!spec || !*spec) {
        if (err && errlen)
            snprintf(err, errlen, "HS_SECRET_KEYS: empty");
        return HS_ERR_CONFIG;
    }
    /* sodium_malloc aborts before sodium_init; it is idempotent. */
    if (sodium_init() < 0)
        return HS_ERR_INTERNAL;
    kr = sodium_malloc(sizeof(*kr));
    if (!kr)
        return HS_ERR_NOMEM;
    memset(kr, 0, sizeof(*kr));
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *colon;
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char b64[64];
        unsigned char master[64];
        size_t mlen = 0;
        struct key *k;

        entry++;
        if (kr->n == MAX_KEYS) {
            set_err(err, errlen, entry, "too many keys (at most 8)");
            goto out;
        }
        colon = memchr(p, ':', len);
        if (!colon || !kid_valid(p, (size_t)(colon - p))) {
            set_err(err, errlen, entry,
                    "expected kid:key with kid [A-Za-z0-9_-]{1,16}");
            goto out;
        }
        if (len - (size_t)(colon - p) - 1 >= sizeof(b64)) {
            set_err(err, errlen, entry,
                    "key is not 32 bytes of base64url");
            goto out;
        }
        memcpy(b64, colon + 1, len - (size_t)(colon - p) - 1);
        b64[len - (size_t)(colon - p) - 1] = '\0';
        if (hs_b64url_decode(b64, master, sizeof(master), &mlen) != HS_OK ||
            mlen != HS_KEY_BYTES) {
            sodium_memzero(b64, sizeof(b64));
            sodium_memzero(master, sizeof(master));
            set_err(err, errlen, entry, "key is not 32 bytes of base64url");
            goto out;
        }
        sodium_memzero(b64, sizeof(b64));
        k = &kr->keys[kr->n];
        memcpy(k->kid, p, (size_t)(colon - p));
        k->kid[colon - p] = '\0';
        for (size_t i = 0; i < kr->n; i++) {
            if (strcmp(kr->keys[i].kid, k->kid) == 0) {
                sodium_memzero(master, sizeof(master));
                set_err(err, errlen, entry, "duplicate kid");
                goto out;
            }
        }
        for (int use = 1; use < NUSES; use++)
            crypto_kdf_derive_from_key(k->sub[use], HS_KEY_BYTES,
                                       (uint64_t)use, KDF_CTX, master);
        sodium_memzero(master, sizeof(master));
        kr->n++;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) {
                set_err(err, errlen, entry + 1, "empty entry");
                goto out;
            }
        }
    }
    *out = kr;
    kr = NULL;
    rc = HS_OK;
out:
    hs_keyring_free(kr);
    return rc;
}

void hs_keyring_free(struct hs_keyring *kr)
{
    if (kr)
        sodium_free(kr); /* sodium_free wipes before releasing */
}

const char *hs_keyring_kid(const struct hs_keyring *kr, size_t i)
{
    return i < kr->n ? kr->keys[i].kid : NULL;
}

const char *hs_keyring_active_kid(const struct hs_keyring *kr)
{
    return kr->keys[0].kid;
}

static const struct key *find_key(const struct hs_keyring *kr,
                                  const char *kid, size_t kidlen)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strlen(kr->keys[i].kid) == kidlen &&
            memcmp(kr->keys[i].kid, kid, kidlen) == 0)
            return &kr->keys[i];
    return NULL;
}

/* Builds the associated data given to libsodium: use byte, kid, '|', ad. */
static enum hs_err full_ad(enum hs_key_use use, const char *kid,
                           size_t kidlen, const void *ad, size_t adlen,
                           unsigned char *buf, size_t *len)
{
    if (2 + kidlen + adlen > AD_MAX)
        return HS_ERR_TOOBIG;
    buf[0] = (unsigned char)use;
    memcpy(buf + 1, kid, kidlen);
    buf[1 + kidlen] = '|';
    if (adlen)
        memcpy(buf + 2 + kidlen, ad, adlen);
    *len = 2 + kidlen + adlen;
    return HS_OK;
}

static int use_valid(enum hs_key_use use)
{
    return use >= HS_KEY_STATE && use < NUSES;
}

enum hs_err hs_aead_seal(const struct hs_keyring *kr, enum hs_key_use use,
                         const void *pt, size_t ptlen, const void *ad,
                         size_t adlen, unsigned char *out, size_t cap,
                         size_t *outlen)
{
    const struct key *k = &kr->keys[0];
    size_t kidlen = strlen(k->kid);
    size_t need = 1 + kidlen + NONCE_BYTES + ptlen + TAG_BYTES;
    unsigned char fad[AD_MAX];
    size_t fadlen;
    unsigned char *nonce;
    unsigned long long clen;

    if (!use_valid(use))
        return HS_ERR_INVALID;
    if (cap < need)
        return HS_ERR_TOOBIG;
    if (full_ad(use, k->kid, kidlen, ad, adlen, fad, &fadlen) != HS_OK)
        return HS_ERR_TOOBIG;
    out[0] = (unsigned char)kidlen;
    memcpy(out + 1, k->kid, kidlen);
    nonce = out + 1 + kidlen;
    randombytes_buf(nonce, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        nonce + NONCE_BYTES, &clen, pt, ptlen, fad, fadlen, NULL, nonce,
        k->sub[use]);
    *outlen = 1 + kidlen + NONCE_BYTES + (size_t)clen;
    return HS_OK;
}

enum hs_err hs_aead_open(const struct hs_keyring *kr, enum hs_key_use use,
                         const unsigned char *ct, size_t ctlen, const void *ad,
                         size_t adlen, unsigned char *out, size_t cap,
                         size_t *outlen)
{
    size_t kidlen;
    const struct key *k;
    const unsigned char *nonce;
    unsigned char fad[AD_MAX];
    size_t fadlen, body;
    unsigned long long plen;

    if (!use_valid(use))
        return HS_ERR_INVALID;
    if (ctlen < 1)
        return HS_ERR_DECODE;
    kidlen = ct[0];
    if (kidlen == 0 || kidlen > HS_KID_MAX ||
        ctlen < 1 + kidlen + NONCE_BYTES + TAG_BYTES)
        return HS_ERR_DECODE;
    k = find_key(kr, (const char *)ct + 1, kidlen);
    if (!k)
        return HS_ERR_CRYPTO;
    nonce = ct + 1 + kidlen;
    body = ctlen - 1 - kidlen - NONCE_BYTES;
    if (cap < body - TAG_BYTES)
        return HS_ERR_TOOBIG;
    if (full_ad(use, k->kid, kidlen, ad, adlen, fad, &fadlen) != HS_OK)
        return HS_ERR_TOOBIG;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &plen, NULL, nonce + NONCE_BYTES, body, fad, fadlen, nonce,
            k->sub[use]) != 0)
        return HS_ERR_CRYPTO;
    *outlen = (size_t)plen;
    return HS_OK;
}

enum hs_err hs_aead_kid(const unsigned char *ct, size_t ctlen, char *kid,
                        size_t cap)
{
    size_t kidlen;

    if (ctlen < 1)
        return HS_ERR_DECODE;
    kidlen = ct[0];
    if (kidlen == 0 || kidlen > HS_KID_MAX || ctlen < 1 + kidlen ||
        !kid_valid((const char *)ct + 1, kidlen))
        return HS_ERR_DECODE;
    if (cap < kidlen + 1)
        return HS_ERR_TOOBIG;
    memcpy(kid, ct + 1, kidlen);
    kid[kidlen] = '\0';
    return HS_OK;
}

void hs_mac(const struct hs_keyring *kr, enum hs_key_use use, const void *msg,
            size_t len, unsigned char out[32])
{
    crypto_auth_hmacsha256(out, msg, len, kr->keys[0].sub[use]);
}

int hs_mac_verify(const struct hs_keyring *kr, enum hs_key_use use,
                  const void *msg, size_t len, const unsigned char mac[32])
{
    int ok = 0;

    /* Every key is tried so the time taken does not say which matched. */
    for (size_t i = 0; i < kr->n; i++)
        ok |= crypto_auth_hmacsha256_verify(mac, msg, len,
                                            kr->keys[i].sub[use]) == 0;
    return ok;
}

void hs_random_bytes(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

enum hs_err hs_random_token(size_t nbytes, char *out, size_t cap)
{
    unsigned char raw[64];
    enum hs_err rc;

    if (nbytes == 0 || nbytes > sizeof(raw))
        return HS_ERR_INVALID;
    randombytes_buf(raw, nbytes);
    rc = hs_b64url_encode(raw, nbytes, out, cap);
    sodium_memzero(raw, sizeof(raw));
    return rc;
}

enum hs_err hs_b64url_encode(const void *bin, size_t len, char *out,
                             size_t cap)
{
    const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

    if (cap < sodium_base64_ENCODED_LEN(len, v))
        return HS_ERR_TOOBIG;
    sodium_bin2base64(out, cap, bin, len, v);
    return HS_OK;
}

int hs_b64url_is32(const char *s)
{
    unsigned char raw[32];
    size_t n;
    int ok = s && strlen(s) == 43 &&
             hs_b64url_decode(s, raw, sizeof(raw), &n) == HS_OK && n == 32;

    hs_wipe(raw, sizeof(raw));
    return ok;
}

enum hs_err hs_b64url_decode(const char *s, void *out, size_t cap,
                             size_t *outlen)
{
    size_t len = 0;
    const char *end = NULL;
    size_t slen = strlen(s);

    /* A length of 1 mod 4 is never valid base64; libsodium would accept
     * and ignore a trailing partial group in some versions. */
    if (slen % 4 == 1)
        return HS_ERR_DECODE;
    if (sodium_base642bin(out, cap, s, slen, NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + slen)
        return HS_ERR_DECODE;
    *outlen = len;
    return HS_OK;
}

void hs_sha256(const void *msg, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, msg, len);
}

void hs_sha256_b64url(const void *msg, size_t len, char out[44])
{
    unsigned char h[32];

    crypto_hash_sha256(h, msg, len);
    sodium_bin2base64(out, 44, h, sizeof(h),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void hs_crypto_fingerprint(const char *secret, char out[17])
{
    char full[44];

    hs_sha256_b64url(secret, strlen(secret), full);
    memcpy(out, full, 16);
    out[16] = '\0';
}

int hs_memeq(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void hs_box_keypair(unsigned char pk[HS_BOX_PK_BYTES],
                    unsigned char sk[HS_BOX_SK_BYTES])
{
    crypto_box_keypair(pk, sk);
}

enum hs_err hs_box_seal(const unsigned char pk[HS_BOX_PK_BYTES], const void *pt,
                        size_t ptlen, unsigned char *out, size_t cap,
                        size_t *outlen)
{
    if (cap < ptlen + crypto_box_SEALBYTES)
        return HS_ERR_TOOBIG;
    if (crypto_box_seal(out, pt, ptlen, pk) != 0)
        return HS_ERR_CRYPTO; /* pk is not a valid point */
    *outlen = ptlen + crypto_box_SEALBYTES;
    return HS_OK;
}

enum hs_err hs_box_open(const unsigned char pk[HS_BOX_PK_BYTES],
                        const unsigned char sk[HS_BOX_SK_BYTES],
                        const unsigned char *ct, size_t ctlen,
                        unsigned char *out, size_t cap, size_t *outlen)
{
    if (ctlen < crypto_box_SEALBYTES)
        return HS_ERR_DECODE;
    if (cap < ctlen - crypto_box_SEALBYTES)
        return HS_ERR_TOOBIG;
    if (crypto_box_seal_open(out, ct, ctlen, pk, sk) != 0)
        return HS_ERR_CRYPTO;
    *outlen = ctlen - crypto_box_SEALBYTES;
    return HS_OK;
}

void hs_pkce_challenge(const char *verifier, char out[44])
{
    hs_sha256_b64url(verifier, strlen(verifier), out);
}

void hs_user_code(const char *secret, char out[10])
{
    /* No vowels (no words), no 0/O/1/I/L look-alikes: 27 symbols. */
    static const char alphabet[] = "BCDFGHJKMNPQRSTVWXZ23456789";
    const size_t n = sizeof(alphabet) - 1;
    unsigned char h[32];
    int j = 0;

    crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
    for (int i = 0; i < 8; i++) {
        if (i == 4)
            out[j++] = '-';
        out[j++] = alphabet[h[i] % n];
    }
    out[j] = '\0';
}

void hs_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

/* The associated data of a token in its place (hs_crypto.h). */
static size_t token_ad(const char *user_id, const char *provider,
                       const char *kind, char *ad, size_t cap)
{
    int n = kind ? snprintf(ad, cap, "%s|%s|%s", user_id, provider, kind)
                 : snprintf(ad, cap, "%s|%s", user_id, provider);

    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

enum hs_err hs_token_seal(const struct hs_keyring *kr, const char *user_id,
                          const char *provider, const char *kind,
                          const char *token, unsigned char *out, size_t cap,
                          size_t *outlen)
{
    char ad[128];
    size_t adlen = token_ad(user_id, provider, kind, ad, sizeof(ad));

    if (!adlen)
        return HS_ERR_TOOBIG;
    return hs_aead_seal(kr, kind ? HS_KEY_DB : HS_KEY_PIPELINE, token,
                        strlen(token), ad, adlen, out, cap, outlen);
}

enum hs_err hs_token_open(const struct hs_keyring *kr, const char *user_id,
                          const char *provider, const char *kind,
                          const unsigned char *ct, size_t ctlen, char *out,
                          size_t cap)
{
    char ad[128];
    size_t adlen = token_ad(user_id, provider, kind, ad, sizeof(ad)), n;
    enum hs_err rc;

    if (!adlen || cap == 0)
        return HS_ERR_TOOBIG;
    rc = hs_aead_open(kr, kind ? HS_KEY_DB : HS_KEY_PIPELINE, ct, ctlen, ad,
                      adlen, (unsigned char *)out, cap - 1, &n);
    if (rc == HS_OK)
        out[n] = '\0';
    return rc;
}

enum hs_err hs_audit_keypair(const struct hs_keyring *kr, const char *kid,
                             unsigned char pk[32], unsigned char sk[64])
{
    for (size_t i = 0; i < kr->n; i++) {
        if (kid && strcmp(kr->keys[i].kid, kid) != 0)
            continue;
        return crypto_sign_seed_keypair(pk, sk, kr->keys[i].sub[HS_KEY_AUDIT])
                   == 0
                   ? HS_OK
                   : HS_ERR_INTERNAL;
    }
    return HS_ERR_NOTFOUND;
}
