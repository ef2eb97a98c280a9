/*
 * hs_metrics: the process's counters, gauges and histograms, rendered in
 * the Prometheus text exposition format (version 0.0.4) for /metrics.
 *
 * A family is declared once (hs_metrics_family: name, type, help); its
 * series are made at first use from a label string that callers build
 * with hs_metrics_labels, so a series exists only once something happened
 * to it. Thread-safe (one mutex; a lookup scans the few hundred series
 * at most a process has). Histograms share one set of latency buckets,
 * in seconds.
 */
#ifndef HS_METRICS_H
#define HS_METRICS_H

#include <stddef.h>

enum hs_metric_type { HS_COUNTER, HS_GAUGE, HS_HISTOGRAM };

/* Declares a family; later declarations of the same name are ignored. */
void hs_metrics_family(const char *name, enum hs_metric_type type,
                       const char *help);

/* `k1="v1",k2="v2"` (a NULL key ends the list early) into buf, values
 * escaped as the format wants; "" when it does not fit. Returns buf. */
const char *hs_metrics_labels(char *buf, size_t cap, const char *k1,
                              const char *v1, const char *k2,
                              const char *v2);

/* Counter += v; gauge = v; histogram observes v. Unknown families and
 * series past the cap (HS_METRICS_SERIES_MAX) are dropped. */
void hs_metrics_add(const char *name, const char *labels, double v);
void hs_metrics_set(const char *name, const char *labels, double v);
void hs_metrics_observe(const char *name, const char *labels, double v);

#define HS_METRICS_SERIES_MAX 2048

/* The whole exposition, malloc'd (NULL when out of memory). */
char *hs_metrics_render(void);

/* Serves GET /metrics, /healthz on listen ("host:port", port 0: any) in a
 * thread of its own, for the workers (HS_METRICS_LISTEN), and logs
 * metrics.listening with the port. "" does nothing (*out NULL). 0 on
 * success, -1 when it cannot listen there. */
struct hs_metrics_server;
int hs_metrics_serve(const char *listen, struct hs_metrics_server **out);
void hs_metrics_server_stop(struct hs_metrics_server *s);

#endif
