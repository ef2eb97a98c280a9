/*
 * hs_log: one JSON object per line on standard error.
 *
 * Every line has ts (ms since epoch), level, svc and event (a stable dotted
 * name such as "callback.rejected"), then the key/values given. Strings are
 * escaped by jansson. There is deliberately no way to log a secret: pass a
 * fingerprint (hs_crypto_fingerprint) or nothing. Never log URLs with query
 * strings, headers or conninfo.
 *
 * Thread-safe: librdkafka's log callback calls it from its own threads.
 *
 *   hs_log(HS_LOG_ERROR, "callback.emit_failed",
 *          HS_KV_STR("handshake_id", id), HS_KV_STR("reason", hs_strerror(rc)));
 */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdint.h>

enum hs_log_level { HS_LOG_DEBUG, HS_LOG_INFO, HS_LOG_WARN, HS_LOG_ERROR };

enum hs_kv_type { HS_KV_T_END, HS_KV_T_STR, HS_KV_T_INT };

struct hs_kv {
    enum hs_kv_type type;
    const char *key;
    const char *s; /* HS_KV_T_STR; NULL is written as null */
    long long i;   /* HS_KV_T_INT */
};

#define HS_KV_STR(k, v) ((struct hs_kv){HS_KV_T_STR, (k), (v), 0})
#define HS_KV_INT(k, v) ((struct hs_kv){HS_KV_T_INT, (k), NULL, (long long)(v)})
#define HS_KV_END ((struct hs_kv){HS_KV_T_END, NULL, NULL, 0})

/* Sets the service name written as "svc" and the minimum level. Reads
 * Call once from main() before any thread starts. */
void hs_log_init(const char *svc, enum hs_log_level min);

/* Returns 1 when a line of this level would be written. */
int hs_log_enabled(enum hs_log_level level);

/* Parses "debug", "info", "warn" or "error". HS_OK-style: 0 on success,
 * -1 on an unknown name (out untouched). */
int hs_log_level_parse(const char *name, enum hs_log_level *out);

/* Writes one line. Use the hs_log() macro, which checks the level before
 * evaluating its arguments and appends the HS_KV_END sentinel. */
void hs__log(enum hs_log_level level, const char *event, ...);

#define hs_log(level, ...)                                                    \
    do {                                                                      \
        if (hs_log_enabled(level))                                            \
            hs__log((level), __VA_ARGS__, HS_KV_END);                         \
    } while (0)

/* Milliseconds since the epoch (CLOCK_REALTIME). Logic takes time as an
 * argument; only main loops and boundaries call this. */
int64_t hs_now_ms(void);

#endif
