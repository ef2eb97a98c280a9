/* hs_err: texts and classes of enum hs_err. */
#include "hs_err.h"

const char *hs_strerror(enum hs_err rc)
{
    switch (rc) {
    case HS_OK: return "ok";
    case HS_ERR_INVALID: return "invalid input";
    case HS_ERR_NOTFOUND: return "not found";
    case HS_ERR_EXPIRED: return "expired";
    case HS_ERR_CONFLICT: return "already used";
    case HS_ERR_DENIED: return "access denied";
    case HS_ERR_DECODE: return "malformed message";
    case HS_ERR_CRYPTO: return "cryptographic check failed";
    case HS_ERR_TRANSIENT: return "temporarily unavailable";
    case HS_ERR_TIMEOUT: return "timed out";
    case HS_ERR_PROVIDER: return "provider error";
    case HS_ERR_NOMEM: return "out of memory";
    case HS_ERR_TOOBIG: return "too large";
    case HS_ERR_CONFIG: return "bad configuration";
    case HS_ERR_INTERNAL: return "internal error";
    case HS_ERR_UNRECORDED: return "audit trail unavailable";
    }
    return "unknown error";
}

int hs_err_is_retriable(enum hs_err rc)
{
    return rc == HS_ERR_TRANSIENT || rc == HS_ERR_TIMEOUT ||
           rc == HS_ERR_UNRECORDED;
}
