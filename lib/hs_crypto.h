/*
 * hs_crypto: every cryptographic operation of handshake, over libsodium.
 *
 * Keys: HS_SECRET_KEYS is a list "kid:base64url(32 bytes),kid2:..." whose
 * first entry is the active key; the others still open what they sealed
 * (rotation). Each use has its own subkey derived with crypto_kdf
 * (HS_KEY_*), so a ciphertext or MAC made for one use never verifies for
 * another.
 *
 * AEAD blobs are self-describing: 1 byte kid length, the kid, a 24-byte
 * nonce, then XChaCha20-Poly1305 ciphertext and tag. Associated data binds
 * a blob to its place (a row, an event id): opening it elsewhere fails.
 *
 * Sealed boxes (crypto_box_seal) carry me-channel messages to an agent's
 * X25519 key. Random ids and handles are base64url without padding.
 * Comparisons of secrets use sodium_memcmp (constant time).
 *
 * hs_crypto_init() must be called once (it calls sodium_init) before any
 * thread uses this module; everything after that is thread-safe.
 */
#ifndef HS_CRYPTO_H
#define HS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "hs_err.h"

#define HS_KEY_BYTES 32
#define HS_KID_MAX 16                           /* kid: [A-Za-z0-9_-]{1,16} */
#define HS_AEAD_OVERHEAD (1 + HS_KID_MAX + 24 + 16) /* upper bound */
#define HS_BOX_PK_BYTES 32
#define HS_BOX_SK_BYTES 32
#define HS_BOX_OVERHEAD 48                      /* crypto_box_SEALBYTES */
#define HS_SHA256_B64_LEN 43                    /* base64url of 32 bytes */
#define HS_ID_LEN 22                            /* base64url of 16 bytes */
#define HS_FINGERPRINT_LEN 16

enum hs_key_use {
    HS_KEY_STATE = 1,    /* OAuth state */
    HS_KEY_PIPELINE = 2, /* sealed fields of Kafka events */
    HS_KEY_DB = 3,       /* tokens at rest in PostgreSQL */
    HS_KEY_COOKIE = 4,   /* cookie and CSRF MACs */
    HS_KEY_AUDIT = 5     /* seed of the audit signing key */
};

struct hs_keyring;

/* Returns 0 on success, -1 when libsodium cannot initialise. */
int hs_crypto_init(void);

/* Parses spec into a new keyring (caller frees with hs_keyring_free). On
 * failure *out is untouched and err says what is wrong without echoing key
 * material ("HS_SECRET_KEYS: entry 2: key is not 32 bytes of base64url"). */
enum hs_err hs_keyring_new(const char *spec, struct hs_keyring **out,
                           char *err, size_t errlen) HS_MUST_CHECK;
/* Wipes and frees; NULL is a no-op. */
void hs_keyring_free(struct hs_keyring *kr);
/* The active key's id; valid as long as kr. */
const char *hs_keyring_active_kid(const struct hs_keyring *kr);
/* The i-th key's id (0 is the active one); NULL past the last. */
const char *hs_keyring_kid(const struct hs_keyring *kr, size_t i);

/* Seals pt with the active key for use, binding ad. Writes at most
 * ptlen + HS_AEAD_OVERHEAD bytes to out. HS_ERR_TOOBIG if cap is short. */
enum hs_err hs_aead_seal(const struct hs_keyring *kr, enum hs_key_use use,
                         const void *pt, size_t ptlen, const void *ad,
                         size_t adlen, unsigned char *out, size_t cap,
                         size_t *outlen) HS_MUST_CHECK;
/* Opens a blob made by hs_aead_seal with any key of the ring. Writes at
 * most ctlen bytes to out. HS_ERR_CRYPTO on unknown kid, tampering, wrong
 * ad or wrong use; HS_ERR_DECODE when too short. *outlen untouched then. */
enum hs_err hs_aead_open(const struct hs_keyring *kr, enum hs_key_use use,
                         const unsigned char *ct, size_t ctlen, const void *ad,
                         size_t adlen, unsigned char *out, size_t cap,
                         size_t *outlen) HS_MUST_CHECK;
/* A provider token sealed for its place: at rest in PostgreSQL (kind
 * "access" or "refresh": HS_KEY_DB, ad "<user_id>|<provider>|<kind>") or
 * on hs.tokens (kind NULL: HS_KEY_PIPELINE, ad "<user_id>|<provider>").
 * hs_token_open writes the token NUL-terminated into out; HS_ERR_TOOBIG
 * when it does not fit cap - 1, else as hs_aead_open. */
enum hs_err hs_token_seal(const struct hs_keyring *kr, const char *user_id,
                          const char *provider, const char *kind,
                          const char *token, unsigned char *out, size_t cap,
                          size_t *outlen) HS_MUST_CHECK;
enum hs_err hs_token_open(const struct hs_keyring *kr, const char *user_id,
                          const char *provider, const char *kind,
                          const unsigned char *ct, size_t ctlen, char *out,
                          size_t cap) HS_MUST_CHECK;

/* The Ed25519 key pair that signs audit events under key kid (NULL: the
 * active key): crypto_sign_seed_keypair seeded with that key's
 * HS_KEY_AUDIT subkey. HS_ERR_NOTFOUND for a kid not in the ring. */
enum hs_err hs_audit_keypair(const struct hs_keyring *kr, const char *kid,
                             unsigned char pk[32],
                             unsigned char sk[64]) HS_MUST_CHECK;

/* Copies the kid of a blob into kid (cap >= HS_KID_MAX + 1). */
enum hs_err hs_aead_kid(const unsigned char *ct, size_t ctlen, char *kid,
                        size_t cap);

/* HMAC-SHA-256 with the active key's subkey for use; out is 32 bytes. */
void hs_mac(const struct hs_keyring *kr, enum hs_key_use use, const void *msg,
            size_t len, unsigned char out[32]);
/* 1 when mac is valid under any key of the ring (constant time), else 0. */
int hs_mac_verify(const struct hs_keyring *kr, enum hs_key_use use,
                  const void *msg, size_t len, const unsigned char mac[32]);

/* Fills buf with n random bytes. */
void hs_random_bytes(void *buf, size_t n);
/* Writes base64url(nbytes random bytes) + NUL to out. HS_ERR_TOOBIG when
 * cap is short. 16 bytes -> 22 chars (ids), 32 bytes -> 43 chars. */
enum hs_err hs_random_token(size_t nbytes, char *out, size_t cap);

/* base64url without padding. encode: HS_ERR_TOOBIG if cap is short.
 * decode: HS_ERR_DECODE on any invalid character or trailing garbage. */
enum hs_err hs_b64url_encode(const void *bin, size_t len, char *out,
                             size_t cap);
enum hs_err hs_b64url_decode(const char *s, void *out, size_t cap,
                             size_t *outlen);
/* 1 when s (may be NULL) is one of our 256-bit handles as
 * hs_random_token(32) draws them: 43 base64url characters of 32 bytes. */
int hs_b64url_is32(const char *s);

/* SHA-256 of len bytes, as base64url (43 chars + NUL; cap >= 44). Handles
 * that redeem something (API tokens, codes, poll tokens) are stored only as
 * this hash; signup_id = hs_sha256_b64url(signup_token). */
void hs_sha256(const void *msg, size_t len, unsigned char out[32]);
void hs_sha256_b64url(const void *msg, size_t len, char out[44]);

/* A short, non-reversible fingerprint of a secret for logs and audit:
 * the first 16 chars of hs_sha256_b64url. out has 17 bytes. */
void hs_crypto_fingerprint(const char *secret, char out[17]);

/* Constant-time equality of n bytes: 1 equal, 0 not. */
int hs_memeq(const void *a, const void *b, size_t n);

/* X25519 key pair for sealed boxes. */
void hs_box_keypair(unsigned char pk[HS_BOX_PK_BYTES],
                    unsigned char sk[HS_BOX_SK_BYTES]);
/* Seals pt to pk; writes ptlen + HS_BOX_OVERHEAD bytes. */
enum hs_err hs_box_seal(const unsigned char pk[HS_BOX_PK_BYTES], const void *pt,
                        size_t ptlen, unsigned char *out, size_t cap,
                        size_t *outlen) HS_MUST_CHECK;
/* Opens a sealed box; HS_ERR_CRYPTO when it is not for this key pair. */
enum hs_err hs_box_open(const unsigned char pk[HS_BOX_PK_BYTES],
                        const unsigned char sk[HS_BOX_SK_BYTES],
                        const unsigned char *ct, size_t ctlen,
                        unsigned char *out, size_t cap,
                        size_t *outlen) HS_MUST_CHECK;

/* PKCE S256 (RFC 7636): challenge = base64url(SHA-256(verifier)). */
void hs_pkce_challenge(const char *verifier, char out[44]);

/* A short code people compare by eye ("ABCD-EFGH", 9 chars + NUL) derived
 * from a secret; the agent shows it and the confirmation page shows it. */
void hs_user_code(const char *secret, char out[10]);

/* Wipes n bytes (sodium_memzero). */
void hs_wipe(void *p, size_t n);

#endif
