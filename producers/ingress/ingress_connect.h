/*
 * ingress_connect: the start of the connect flow in the browser (README
 * "The connect flow", steps 2 and 3; SPEC §2 and §3).
 *
 *   GET  /web/provider-auth/{p}?code=   confirmation page naming the
 *                                       account, the agent and the short
 *                                       code (or straight on when this
 *                                       browser is remembered)
 *   POST /web/provider-auth/{p}?code=   CSRF checked, code consumed,
 *                                       handshake row inserted, state
 *                                       minted, 302 to the provider
 *
 * The CSRF token and the remember cookie are MACs with HS_KEY_COOKIE bound
 * to the browser-binding cookie, so neither works in another browser.
 */
#ifndef INGRESS_CONNECT_H
#define INGRESS_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "ingress_http.h"

#define INGRESS_REMEMBER_MS (30LL * 24 * 3600 * 1000) /* 30 days */

/* The CSRF token of the confirmation form for (bind, code):
 * base64url(hs_mac(HS_KEY_COOKIE, "csrf|" bind "|" code)), 43 chars. */
enum hs_err ingress_csrf_make(const struct hs_keyring *kr, const char *bind,
                              const char *code, char out[44]) HS_MUST_CHECK;

/* HS_OK when given is the CSRF token of (bind, code) under any key of the
 * ring (constant time); HS_ERR_DENIED otherwise, also for NULL or
 * malformed input. */
enum hs_err ingress_csrf_verify(const struct hs_keyring *kr, const char *bind,
                                const char *code, const char *given);

/* The remember cookie value "<user_id>.<expiry_ms>.<mac>" for this
 * browser (bind). HS_ERR_TOOBIG when out (cap) is short. */
enum hs_err ingress_remember_make(const struct hs_keyring *kr,
                                  const char *user_id, int64_t expiry_ms,
                                  const char *bind, char *out,
                                  size_t cap) HS_MUST_CHECK;

/* HS_OK when value is a remember cookie made for user_id and bind that has
 * not expired at now_ms; HS_ERR_EXPIRED when it has; HS_ERR_DENIED for
 * another user, another browser, a bad MAC or a malformed value. */
enum hs_err ingress_remember_verify(const struct hs_keyring *kr,
                                    const char *value, const char *bind,
                                    const char *user_id, int64_t now_ms);

/* ---- shared by the flows that start in a browser (ingress_signin) ---- */
#include "hs_state.h"

/* Inserts the handshake st->handshake_id (flow, provider set) and consumes
 * whatever handle started it, in the transaction open on pg (committed by
 * ingress_flow_launch once handshake.started is recorded); fills
 * st->subject. HS_ERR_NOTFOUND when the handle is gone (used, expired). */
typedef enum hs_err (*ingress_flow_insert)(const struct ingress *in,
                                           struct hs_pg *pg,
                                           const char *handle,
                                           const char *bind_hash,
                                           struct hs_state *st);

/* Draws the handshake id, PKCE verifier and nonce, calls fn, mints the
 * sealed state and answers 302 to the provider's authorize URL (README
 * "The connect flow", step 3); a connect also sets the remember cookie. */
enum MHD_Result ingress_flow_launch(const struct ingress *in,
                                    struct MHD_Connection *conn,
                                    struct ingress_req *r,
                                    const struct hs_provider *prov,
                                    enum hs_flow flow, const char *handle,
                                    const char *bind, ingress_flow_insert fn);

/* The binding cookie of this browser into bind, or a new one (sent as
 * Set-Cookie). 0 on success. */
int ingress_binding_ensure(const struct ingress *in,
                           struct MHD_Connection *conn, struct ingress_req *r,
                           char bind[44]);
/* 200 page asking to confirm: intro (HTML, escaped already), the short
 * code, and a form POSTing to action (a path of ours, escaped already)
 * with the CSRF token of (bind, handle); its CSP lets the form's answer
 * lead to prov's authorize URL. */
enum MHD_Result ingress_confirm_page(const struct ingress *in,
                                     struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const char *title, const char *intro,
                                     const char *user_code,
                                     const char *action, const char *handle,
                                     const char *bind, const char *button,
                                     const char *outro,
                                     const struct hs_provider *prov);
/* 1 when the POST carries the CSRF token of (this browser, handle); bind
 * is then the browser's binding cookie. */
int ingress_confirmed(const struct ingress *in, struct MHD_Connection *conn,
                      const struct ingress_req *r, const char *handle,
                      char bind[44]);
/* 403 page: the confirmation did not come from our page in this browser. */
enum MHD_Result ingress_csrf_refused(struct MHD_Connection *conn,
                                     struct ingress_req *r);
/* 400 page: the link was used, expired or is malformed (reason logged). */
enum MHD_Result ingress_invalid_link(struct MHD_Connection *conn,
                                     struct ingress_req *r,
                                     const char *reason);
/* 503 page: the database cannot be reached, or a step could not be
 * recorded (ingress_audit_hold), so it was not taken. */
enum MHD_Result ingress_unavailable_page(struct MHD_Connection *conn,
                                         struct ingress_req *r);

/* The route (GET or POST, is_post says which). provider is the path
 * segment, lowercased and [a-z0-9]+ already. */
enum MHD_Result ingress_connect_start(const struct ingress *in,
                                      struct MHD_Connection *conn,
                                      struct ingress_req *r,
                                      const char *provider, int is_post);

#endif
