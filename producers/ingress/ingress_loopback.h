/*
 * ingress_loopback: the loopback flow (SPEC §2 "loopback", Sourcegraph's
 * token-creation callback made safer).
 *
 *   GET  /web/provider-auth/{p}?request_from=X[&port=N]
 *        X must be on HS_REQUESTERS (hs_requesters.h) and N fit its entry;
 *        no confirmation before the provider (the result goes back to this
 *        machine): the handshake is inserted and the browser leaves.
 *   GET  /web/handshake/{id}   once the user exists: "Authorize X?" with a
 *        CSRF-checked form (only in the browser that started the flow,
 *        within INGRESS_LOOPBACK_AUTHORIZE_S of the sign-in)
 *   POST /web/handshake/{id}   mints the one handle of the handshake and
 *        answers 302 to X's redirect with code=<handle>
 *   POST /no-auth/loopback-token {"code"}   redeems the handle once,
 *        within 60 s, for an API token
 *
 * The redirect is built from the allow-list entry, the port checked
 * against it and the handle only; the API token never appears in a URL.
 */
#ifndef INGRESS_LOOPBACK_H
#define INGRESS_LOOPBACK_H

#include "ingress_http.h"

#define INGRESS_LOOPBACK_AUTHORIZE_S 600 /* sign-in to "Authorize" click */

/* The start (the router checked the provider; from and port are the raw
 * query values, port NULL when absent). */
enum MHD_Result ingress_loopback_start(const struct ingress *in,
                                       struct MHD_Connection *conn,
                                       struct ingress_req *r,
                                       const struct hs_provider *prov,
                                       const char *from, const char *port);

/* A completed loopback handshake, as the status page read it. */
struct ingress_loopback_row {
    const char *id;        /* handshake id */
    const char *provider;
    const char *requester; /* subject */
    int port;              /* requester_port, 0 if none */
    const char *account;   /* email, else name, else user id */
    int fresh;             /* finished within INGRESS_LOOPBACK_AUTHORIZE_S */
    int minted;            /* its handle exists already */
};

/* The status page of a completed loopback handshake, in the browser that
 * started it (bind: its binding cookie, checked by the caller): GET shows
 * "Authorize X?", POST (CSRF-checked) mints the handle and redirects. */
enum MHD_Result ingress_loopback_authorize(const struct ingress *in,
                                           struct MHD_Connection *conn,
                                           struct ingress_req *r,
                                           const struct ingress_loopback_row
                                               *row,
                                           const char *bind, int is_post);

/* POST /no-auth/loopback-token. */
enum MHD_Result ingress_loopback_redeem(const struct ingress *in,
                                        struct MHD_Connection *conn,
                                        struct ingress_req *r);

#endif
