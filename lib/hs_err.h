/*
 * hs_err: the one error type of handshake.
 *
 * Every fallible function returns enum hs_err: HS_OK (0) on success and a
 * negative code on failure. The class of a code decides what a caller does
 * next: invalid input is the client's fault (4xx, never retried), transient
 * errors are retried in place, everything else is permanent (DLQ, fail the
 * flow). hs_strerror() gives a short lowercase text for logs and pages.
 */
#ifndef HS_ERR_H
#define HS_ERR_H

#define HS_MUST_CHECK __attribute__((warn_unused_result))

enum hs_err {
    HS_OK = 0,
    HS_ERR_INVALID = -1,   /* malformed or out-of-range input (client) */
    HS_ERR_NOTFOUND = -2,  /* no such thing */
    HS_ERR_EXPIRED = -3,   /* was valid, is not any more */
    HS_ERR_CONFLICT = -4,  /* already used, claimed or present */
    HS_ERR_DENIED = -5,    /* authentication or authorisation failed */
    HS_ERR_DECODE = -6,    /* bytes that are not a valid message */
    HS_ERR_CRYPTO = -7,    /* MAC or decryption failure, unknown key id */
    HS_ERR_TRANSIENT = -8, /* a dependency is unavailable: retry */
    HS_ERR_TIMEOUT = -9,   /* a bounded wait ran out: retry */
    HS_ERR_PROVIDER = -10, /* the provider refused (permanent) */
    HS_ERR_NOMEM = -11,
    HS_ERR_TOOBIG = -12,   /* input or output over its size cap */
    HS_ERR_CONFIG = -13,   /* bad configuration */
    HS_ERR_INTERNAL = -14, /* a bug or an unexpected library failure */
    HS_ERR_UNRECORDED = -15 /* the audit record was not acknowledged, so
                               the step it records was not taken: retry */
};

/* Returns a static, lowercase description of rc; never NULL. */
const char *hs_strerror(enum hs_err rc);

/* Returns 1 when retrying the same operation later may succeed
 * (HS_ERR_TRANSIENT, HS_ERR_TIMEOUT, HS_ERR_UNRECORDED), else 0. */
int hs_err_is_retriable(enum hs_err rc);

#endif
