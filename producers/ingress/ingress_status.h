/*
 * ingress_status: the handshake progress page (README connect flow, step
 * 8) and the probes.
 *
 *   GET /web/handshake/{id}  same browser only (403 otherwise); a
 *                            completed loopback flow shows "Authorize X?"
 *                            (ingress_loopback.h), whose form POSTs here
 *   GET /healthz             liveness: the process answers
 *   GET /readyz              Kafka and PostgreSQL reachable, else 503
 *                            {"status","kafka","postgres"} naming which
 */
#ifndef INGRESS_STATUS_H
#define INGRESS_STATUS_H

#include "ingress_http.h"

enum MHD_Result ingress_status_page(const struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r, const char *id,
                                    int is_post);
enum MHD_Result ingress_healthz(const struct ingress *in,
                                struct MHD_Connection *conn,
                                struct ingress_req *r);
enum MHD_Result ingress_readyz(const struct ingress *in,
                               struct MHD_Connection *conn,
                               struct ingress_req *r);

#endif
