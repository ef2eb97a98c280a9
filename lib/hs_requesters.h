/*
 * hs_requesters: the loopback requesters (HS_REQUESTERS, SPEC §2 and §3):
 * the only places a loopback flow may send the browser back to.
 *
 *   HS_REQUESTERS="JETBRAINS=http://localhost:63342/auth,
 *                  ide=vscode://acme.handshake/auth,
 *                  VSCODE=http://127.0.0.1:*"
 *
 * (the last takes any port; with a path it reads "http://127.0.0.1:*"
 * followed by "/callback", as hs-dev's hs-agent entry does).
 *
 * A name is 1 to 31 of [A-Za-z0-9_-], unique (case-sensitive). A redirect
 * is either
 *   - http:// on 127.0.0.1, [::1] or localhost, with no port, a fixed
 *     port, or "*" (any port: the request must name it, RFC 8252 §7.3),
 *   - or a private-use scheme (RFC 8252 §7.1) such as vscode:, with an
 *     optional authority of [A-Za-z0-9._-] and no port,
 * and a fixed path of [A-Za-z0-9._~/-] that starts with '/' (or is empty),
 * with no "//" or ".." in it: no userinfo, query or fragment, no other
 * host, no https (a loopback redirect never leaves the machine) and none
 * of the schemes a browser would run or fetch (javascript:, data:, file:,
 * ...). Anything else is an error at start.
 *
 * A redirect is built only from the entry, the validated port and the
 * handle: nothing else of a request ever reaches the Location header.
 */
#ifndef HS_REQUESTERS_H
#define HS_REQUESTERS_H

#include <stddef.h>

#include "hs_err.h"

#define HS_REQUESTERS_MAX 32
#define HS_REQUESTER_PORT_ANY (-1)

struct hs_requester {
    char name[32];
    char prefix[160]; /* "http://127.0.0.1" or "vscode://acme.handshake" */
    int port;         /* 0 none, 1..65535 fixed, HS_REQUESTER_PORT_ANY */
    char path[160];   /* "" or "/..." */
};

struct hs_requesters {
    struct hs_requester v[HS_REQUESTERS_MAX];
    size_t n;
};

/* Parses the whole of spec ("" is an empty list). HS_OK fills *out; else
 * *out untouched and err holds one line naming the entry and what is
 * wrong (HS_ERR_CONFIG). */
enum hs_err hs_requesters_parse(const char *spec, struct hs_requesters *out,
                                char *err, size_t errlen) HS_MUST_CHECK;

/* Exact lookup; NULL when absent. */
const struct hs_requester *hs_requesters_find(const struct hs_requesters *rs,
                                              const char *name);

/* Checks the port a request asks for against rq: port NULL when the
 * request names none. HS_OK writes the port to use (0 = none) to *out;
 * HS_ERR_INVALID when the entry takes no port and one was given, takes
 * any port and none was given, or port is not a decimal 1..65535 without
 * sign or leading zero. */
enum hs_err hs_requester_port(const struct hs_requester *rq, const char *port,
                              int *out) HS_MUST_CHECK;

/* The redirect "<prefix>[:port]<path>?code=<code>" into out (port 0: no
 * port). code must be base64url and port within 0..65535 (checked:
 * HS_ERR_INVALID otherwise); HS_ERR_TOOBIG when out is short. */
enum hs_err hs_requester_redirect(const struct hs_requester *rq, int port,
                                  const char *code, char *out,
                                  size_t cap) HS_MUST_CHECK;

/* What a Content-Security-Policy form-action must allow for the redirect
 * (the 302 that answers a form is checked against it): the origin
 * "http://127.0.0.1:port" or the scheme "vscode:". */
enum hs_err hs_requester_origin(const struct hs_requester *rq, int port,
                                char *out, size_t cap) HS_MUST_CHECK;

#endif
