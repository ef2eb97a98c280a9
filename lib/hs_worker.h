/*
 * hs_worker: the consume loop every worker shares (STYLE §7).
 *
 * hs_worker_main() parses --help/--check-config, loads the configuration
 * (exit 2 naming a bad setting), connects to PostgreSQL (migrating it),
 * creates the producer and joins the consumer group, then loops:
 *
 *   - a message is given to the handler (or the messages that have
 *     arrived, to a batch handler); HS_OK stores its offset (effects are
 *     durable by then);
 *   - a retriable error (hs_err_is_retriable) retries the same message
 *     in place with back-off; on shutdown it is left uncommitted, so it
 *     is redelivered;
 *   - any other error sends the original bytes to hs.dlq with the reason
 *     (msgpack: topic, partition, offset, key, payload, reason, svc, ts),
 *     then stores the offset: the partition keeps flowing;
 *   - after each message and when idle, the idle hook runs (the outbox
 *     relay).
 *
 * SIGTERM/SIGINT finish the message in hand, commit, close and exit 0.
 */
#ifndef HS_WORKER_H
#define HS_WORKER_H

#include <msgpack.h>
#include <stddef.h>

#include "hs_audit.h"
#include "hs_config.h"
#include "hs_crypto.h"
#include "hs_kafka.h"
#include "hs_pg.h"

struct hs_worker {
    const struct hs_config *cfg;
    struct hs_keyring *kr;
    struct hs_pg *pg;
    struct hs_kafka_producer *producer;
    struct hs_auditor *audit; /* hs.audit (hs_audit.h) */
    void *arg; /* the program's own state */
};

#define HS_WORKER_BATCH 64   /* messages a batch handler gets at most */
#define HS_WORKER_REASON 128 /* a dead letter's reason, NUL included */

struct hs_worker_def {
    const char *svc;        /* "hs-exchange" */
    const char *group;      /* consumer group */
    const char *topic;      /* base topic name consumed; NULL: none, the
                               idle hook is the work (every 100 ms) and
                               group a one-line description */
    unsigned need;          /* HS_NEED_* beyond Kafka, PG and keys */
    int no_db;              /* 1: no PostgreSQL (w->pg is NULL) */
    int group_per_env;      /* 1: the group is "<group>.<HS_ENV>" */
    /* Once after start; non-HS_OK (err filled) exits 2. */
    enum hs_err (*init)(struct hs_worker *w, char *err, size_t errlen);
    /* One message; see above. reason: a short machine word for the DLQ. */
    enum hs_err (*handle)(struct hs_worker *w, const struct hs_kafka_msg *m,
                          char *reason, size_t reasonlen);
    /* Instead of handle: the messages that have arrived, up to
     * HS_WORKER_BATCH, at once (one acknowledgement wait for all of them
     * instead of one each). rcs[i] and reasons[i] are handle's result and
     * reason for m[i]; the messages whose result was retriable are given
     * again (with back-off), the rest are done. */
    void (*handle_batch)(struct hs_worker *w, struct hs_kafka_msg *const *m,
                         size_t n, enum hs_err *rcs,
                         char (*reasons)[HS_WORKER_REASON]);
    void (*idle)(struct hs_worker *w); /* may be NULL */
    void (*cleanup)(struct hs_worker *w); /* may be NULL */
};

/* Runs the program; returns its exit code. */
int hs_worker_main(int argc, char **argv, const struct hs_worker_def *def);

/* 1 while the program has not been asked to stop. */
int hs_worker_running(void);

/* Runs fn(w, arg) in one transaction (BEGIN, fn, COMMIT; ROLLBACK when
 * fn fails), retrying a retriable failure with back-off (100 ms doubling
 * to 3.2 s) until it succeeds, fails for good or the program is asked to
 * stop. For work that must not be given up halfway (a claim or a lease is
 * held). Returns the last result. */
typedef enum hs_err (*hs_worker_txn_fn)(struct hs_worker *w, void *arg);
enum hs_err hs_worker_txn(struct hs_worker *w, hs_worker_txn_fn fn,
                          void *arg);

/* Records one step on hs.audit once the effect is durable. A failure is
 * logged (audit.write_failed), the event kept and sent later; the effect
 * stands. */
void hs_worker_audit(struct hs_worker *w, const struct hs_audit_step *s);

/* hs_audit_hold for a step inside an hs_worker_txn function: called last,
 * before the commit; HS_ERR_UNRECORDED (retriable: the transaction is
 * rolled back and retried) until the record is acknowledged. HS_OK
 * without an auditor. */
enum hs_err hs_worker_audit_hold(struct hs_worker *w,
                                 const struct hs_audit_step *s) HS_MUST_CHECK;

/* Encodes a DLQ record of m into out (msgpack). */
enum hs_err hs_worker_dlq_encode(const struct hs_kafka_msg *m,
                                 const char *svc, const char *reason,
                                 int64_t now_ms, msgpack_sbuffer *out);

#endif
