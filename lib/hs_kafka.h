/*
 * hs_kafka: the Kafka seam, over librdkafka.
 *
 * Producer: idempotent, acks=all, murmur2_random partitioner (so an agent
 * can compute the partition of its user's key on hs.me). Delivery reports
 * are acted on: hs_kafka_produce_acked() waits for the report of its own
 * message; hs_kafka_flush() says whether every message since the last
 * flush was delivered.
 *
 * Consumer: a consumer group with enable.auto.offset.store=false. A
 * message's offset is stored only when the caller says its effects are
 * durable (hs_kafka_msg_done(..., 1)); stored offsets are committed in the
 * background and on close. A message not marked done is redelivered after
 * a restart or a rebalance.
 *
 * Both read extra librdkafka properties from cfg->kafka_opts ("k=v,k=v"),
 * route librdkafka's logs into hs_log, and never log payloads.
 * A producer may be used from several threads; a consumer from one.
 */
#ifndef HS_KAFKA_H
#define HS_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "hs_config.h"
#include "hs_err.h"

struct hs_kafka_producer;
struct hs_kafka_consumer;

/* Applies "k=v,k=v" (HS_KAFKA_OPTS) on top of conf, a librdkafka
 * configuration (rd_kafka_conf_t *) of a client of our own (the agent's
 * me-channel reader, hs-replay). HS_ERR_CONFIG with err naming
 * HS_KAFKA_OPTS for a malformed list or a property librdkafka refuses. */
struct rd_kafka_conf_s;
enum hs_err hs_kafka_conf_opts(struct rd_kafka_conf_s *conf, const char *opts,
                               char *err, size_t errlen) HS_MUST_CHECK;

/* Creates a producer for cfg->brokers. HS_ERR_CONFIG with err filled when
 * librdkafka refuses a property. Caller frees with hs_kafka_producer_free. */
enum hs_err hs_kafka_producer_new(const struct hs_config *cfg,
                                  struct hs_kafka_producer **out, char *err,
                                  size_t errlen) HS_MUST_CHECK;

/* Produces one message to topic (full name) and waits until it is
 * acknowledged by all in-sync replicas, at most cfg->kafka_timeout_ms.
 * HS_OK only after the delivery report says so; HS_ERR_TIMEOUT or
 * HS_ERR_TRANSIENT otherwise (HS_ERR_TOOBIG, HS_ERR_NOMEM when librdkafka
 * refuses the message locally). Thread-safe. */
enum hs_err hs_kafka_produce_acked(struct hs_kafka_producer *p,
                                   const char *topic, const void *key,
                                   size_t keylen, const void *val,
                                   size_t vallen) HS_MUST_CHECK;

/* Called once with the verdict of one message of hs_kafka_produce_then():
 * HS_OK (acknowledged by all in-sync replicas), HS_ERR_TIMEOUT or
 * HS_ERR_TRANSIENT. Runs on the producer's report thread: it must not
 * block; it may produce again. */
typedef void (*hs_kafka_done_fn)(void *arg, enum hs_err rc);

/* Produces as hs_kafka_produce_acked() but returns at once: HS_OK when
 * queued, and done(arg, verdict) is called exactly once later (within
 * cfg->kafka_timeout_ms and a margin); any other result means nothing was
 * queued and done is not called. Thread-safe. */
enum hs_err hs_kafka_produce_then(struct hs_kafka_producer *p,
                                  const char *topic, const void *key,
                                  size_t keylen, const void *val,
                                  size_t vallen, hs_kafka_done_fn done,
                                  void *arg) HS_MUST_CHECK;

/* Queues one message (copied). Errors of delivery surface in the next
 * hs_kafka_flush(). HS_ERR_TRANSIENT when the local queue is full. */
enum hs_err hs_kafka_produce(struct hs_kafka_producer *p, const char *topic,
                             const void *key, size_t keylen, const void *val,
                             size_t vallen) HS_MUST_CHECK;

/* Waits up to timeout_ms for every queued message. HS_OK when all messages
 * produced since the previous flush were acknowledged; HS_ERR_TRANSIENT if
 * any failed; HS_ERR_TIMEOUT if some are still in flight. */
enum hs_err hs_kafka_flush(struct hs_kafka_producer *p,
                           int timeout_ms) HS_MUST_CHECK;

/* 1 while the last delivery report of p was a failure (the cluster is
 * probably unreachable), until a message is acknowledged again. */
int hs_kafka_producer_failing(struct hs_kafka_producer *p);

/* 1 when the cluster answered a metadata request within timeout_ms. */
int hs_kafka_producer_ping(struct hs_kafka_producer *p, int timeout_ms);

/* Flushes (10 s at most), then destroys. NULL is a no-op. */
void hs_kafka_producer_free(struct hs_kafka_producer *p);

/* Joins consumer group `group` on the given full topic names. */
enum hs_err hs_kafka_consumer_new(const struct hs_config *cfg,
                                  const char *group,
                                  const char *const *topics, size_t ntopics,
                                  struct hs_kafka_consumer **out, char *err,
                                  size_t errlen) HS_MUST_CHECK;

/* One consumed message. Pointers are valid until hs_kafka_msg_done(). */
struct hs_kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t keylen;
    const void *val;
    size_t vallen;
    void *priv; /* the rd_kafka_message_t */
};

/* Waits up to timeout_ms for a message. HS_OK fills *m; HS_ERR_TIMEOUT
 * when none arrived (check your running flag and call again). Consumer
 * errors are logged here and reported as HS_ERR_TIMEOUT. */
enum hs_err hs_kafka_consumer_poll(struct hs_kafka_consumer *c, int timeout_ms,
                                   struct hs_kafka_msg *m);

/* How many messages of m's partition come after m (the high watermark
 * of the last fetch; no request is made), or -1 when unknown. */
long long hs_kafka_msg_lag(struct hs_kafka_consumer *c,
                           const struct hs_kafka_msg *m);

/* Releases m. With durable != 0 its offset is stored for commit (call it
 * only after the message's effects are durable). */
void hs_kafka_msg_done(struct hs_kafka_consumer *c, struct hs_kafka_msg *m,
                       int durable);

/* Reads every partition of topic (full name) from its start to its end as
 * of the call, without a group (nothing committed), calling fn for each
 * message; fn returning non-zero stops the read. HS_ERR_TIMEOUT when the
 * end was not reached within cfg->kafka_timeout_ms of the last message;
 * HS_ERR_NOTFOUND for a topic the cluster does not know. (hs-dlq.) */
typedef int (*hs_kafka_read_fn)(void *arg, const struct hs_kafka_msg *m);
enum hs_err hs_kafka_read_topic(const struct hs_config *cfg,
                                const char *topic, hs_kafka_read_fn fn,
                                void *arg, char *err,
                                size_t errlen) HS_MUST_CHECK;

/* librdkafka 2.0 aborts when a cooperative-sticky member is destroyed
 * between its JoinGroup and its first assignment (librdkafka#4312, fixed
 * in 2.3): a consumer freed that early (its group answered, no assignment
 * yet) first waits this long at most for that assignment (messages polled
 * meanwhile are dropped, not done: they are redelivered). */
#define HS_KAFKA_FIRST_ASSIGN_WAIT_MS 10000

/* Commits stored offsets, leaves the group, destroys. NULL is a no-op. */
void hs_kafka_consumer_free(struct hs_kafka_consumer *c);

#endif
