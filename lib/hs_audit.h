/*
 * hs_audit: the signed audit trail (SPEC §4 hs.audit, SECURITY.md 38).
 *
 * An audit event (hs_event type audit) names its producer in `svc`:
 * "<program>/<instance>", the instance 8 random base64url characters drawn
 * at start, so every process is a producer of its own, and `seq` counts
 * that producer's events from 1. `sig` is an Ed25519 signature
 * (hs_audit_keypair: seeded from the HS_KEY_AUDIT subkey of the key named
 * by `kid`) over the event's msgpack encoding without `sig`: the encoder
 * writes keys in one fixed order, so a verifier decodes, re-encodes
 * without `sig` and checks. A changed byte either breaks the decoding or
 * the signature.
 *
 * hs_audit_emit assigns the next seq, signs and produces to hs.audit (key:
 * user id, else handshake id) and waits for acks=all. An event whose
 * produce failed (logged as audit.write_failed with its seq) is kept, up to
 * 1024, and sent again before the next new one (which waits behind it),
 * so an outage leaves no gap in seq unless the process dies meanwhile
 * (audit.unsent at exit) or the backlog overflows (audit.dropped): those
 * gaps hs-replay --verify reports.
 *
 * Public keys for verifiers: HS_AUDIT_KEYS "kid:base64url(32 bytes),..."
 * (hs_audit_keys_parse); hs-replay --print-keys derives them from
 * HS_SECRET_KEYS.
 */
#ifndef HS_AUDIT_H
#define HS_AUDIT_H

#include <stddef.h>

#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_event.h"
#include "hs_kafka.h"

/* ---- pure ------------------------------------------------------------ */

/* Signs ev (type audit) in place: sets kid and sig. */
enum hs_err hs_audit_sign(struct hs_event *ev, const char *kid,
                          const unsigned char sk[64]) HS_MUST_CHECK;
/* HS_OK when ev's sig verifies under pk; HS_ERR_CRYPTO otherwise
 * (also when it has no sig). */
enum hs_err hs_audit_verify(const struct hs_event *ev,
                            const unsigned char pk[32]) HS_MUST_CHECK;

#define HS_AUDIT_KEYS_MAX 8

struct hs_audit_keys {
    size_t n;
    char kid[HS_AUDIT_KEYS_MAX][HS_KID_MAX + 1];
    unsigned char pk[HS_AUDIT_KEYS_MAX][32];
};

/* Parses "kid:base64url(32 bytes),..." into *out; HS_ERR_CONFIG (err
 * says which entry) otherwise. */
enum hs_err hs_audit_keys_parse(const char *spec, struct hs_audit_keys *out,
                                char *err, size_t errlen) HS_MUST_CHECK;
/* Every key of the ring as public keys. */
enum hs_err hs_audit_keys_from_ring(const struct hs_keyring *kr,
                                    struct hs_audit_keys *out) HS_MUST_CHECK;
/* The public key of kid, or NULL. */
const unsigned char *hs_audit_keys_find(const struct hs_audit_keys *k,
                                        const char *kid);

/* ---- emitting ------------------------------------------------------ */

/* One step, as the caller knows it. NULL and "" are absent. token is
 * fingerprinted (hs_crypto_fingerprint), never copied. */
struct hs_audit_step {
    const char *action;  /* "handshake.started", ... */
    const char *outcome; /* "ok", "failed", "rejected" */
    const char *reason;
    const char *handshake_id;
    const char *user_id;
    const char *provider;
    const char *client_ip;
    const char *user_agent;
    const char *token;
};

struct hs_auditor;

/* program: "hs-ingress"... The auditor signs with the ring's active key.
 * Thread-safe after creation. */
enum hs_err hs_auditor_new(const struct hs_config *cfg,
                           const struct hs_keyring *kr, const char *program,
                           struct hs_kafka_producer *producer,
                           struct hs_auditor **out) HS_MUST_CHECK;
void hs_auditor_free(struct hs_auditor *a);

/* Sends the events kept after a failed produce (the main loops call it
 * every 100 ms; cheap when there are none). */
void hs_audit_flush(struct hs_auditor *a);

/* Builds, signs and produces one audit event; HS_OK once acknowledged,
 * HS_ERR_UNRECORDED otherwise (the event is kept and sent later: the step
 * it records stands). */
enum hs_err hs_audit_emit(struct hs_auditor *a,
                          const struct hs_audit_step *s) HS_MUST_CHECK;

/* For a security-relevant step that counts as done only once its record
 * is acknowledged: the caller takes the step inside a transaction, calls
 * this before committing, and rolls back and answers "unavailable" when
 * it returns HS_ERR_UNRECORDED. The copy then kept for later says outcome
 * "aborted", reason "audit_unavailable", so the trail still has no gap and
 * does not claim a step that was undone. (A commit that fails after an
 * acknowledged record leaves a record of a step not taken: the trail may
 * over-report an attempt, never miss one.) */
enum hs_err hs_audit_hold(struct hs_auditor *a,
                          const struct hs_audit_step *s) HS_MUST_CHECK;

/* hs_audit_hold() for a caller that does not wait: done(arg, rc) is called
 * exactly once with what hs_audit_hold() would return — later, on the
 * producer's report thread, or before this returns (out of memory, or
 * older records still to send or a failing producer: then it waits as
 * hs_audit_hold() does). */
void hs_audit_hold_then(struct hs_auditor *a, const struct hs_audit_step *s,
                        hs_kafka_done_fn done, void *arg);

/* hs_audit_hold() for s[0..n-1] at once: their records go out together
 * and rcs[i] is the result for s[i] once every one is known. */
void hs_audit_hold_all(struct hs_auditor *a, const struct hs_audit_step *s,
                       size_t n, enum hs_err *rcs);

#endif
