/*
 * ingress_pages: the HTML of hs-ingress, without libmicrohttpd.
 *
 * Pages say in plain words what happened and what to do next. Everything
 * reflected into a page (names, emails, provider error codes) goes
 * through ingress_html_escape(); a struct ingress_page holds a body that is
 * already HTML, so it can be rendered without a second look. The HTTP
 * layer (ingress_http.c) adds the security headers (CSP, X-Frame-Options).
 */
#ifndef INGRESS_PAGES_H
#define INGRESS_PAGES_H

#include <stddef.h>

#include "hs_err.h"

/* One page to answer with: status, plain-text title, HTML body. */
struct ingress_page {
    unsigned status;
    char title[128]; /* plain text: escaped when rendered */
    char html[4096]; /* HTML: everything reflected already escaped */
    int refresh_s;   /* > 0: <meta http-equiv="refresh"> every refresh_s */
    char form_to[256]; /* origin the page's form may end up at ("" = only
                          ours): CSP form-action also governs the 302 that
                          answers the form, so a confirmation page names
                          the provider it sends the browser to */
};

/* The origin (scheme://host[:port]) of an absolute http(s) URL into out.
 * HS_ERR_INVALID when url has none or it holds characters that have no
 * place in a header; HS_ERR_TOOBIG when out is short. */
enum hs_err ingress_url_origin(const char *url, char *out, size_t cap);

/* HTML-escapes s (& < > " ') into out, dropping control characters.
 * HS_OK when all of s fit; HS_ERR_TOOBIG when out was too short: out then
 * holds the longest prefix that fits, never cutting an entity or a UTF-8
 * sequence. out is always NUL-terminated when cap > 0. */
enum hs_err ingress_html_escape(const char *s, char *out, size_t cap);

/* Fills pg with a page of one paragraph of plain text (escaped here).
 * HS_ERR_TOOBIG if text does not fit (pg then holds a truncated page). */
enum hs_err ingress_page_plain(struct ingress_page *pg, unsigned status,
                               const char *title, const char *text);

/* The full HTML document of pg, in a new buffer the caller free()s;
 * NULL when out of memory. */
char *ingress_page_render(const struct ingress_page *pg);

/* The provider's name for people: "github" -> "Github". out has cap
 * bytes (32 is enough for every catalog name). */
void ingress_provider_display(const char *name, char *out, size_t cap);

/* The progress page of a handshake (README connect flow, step 8) from its
 * row: flow (connect says "Connected", the sign-in flows "Signed in"),
 * status ("started", "exchanging", "complete", "failed"), error
 * (machine code or ""), provider (catalog name) and whether expires_at has
 * passed. Always a 200 page; "connecting" refreshes itself every second. */
void ingress_status_describe(const char *flow, const char *status,
                             const char *error, const char *provider,
                             int expired, struct ingress_page *pg);

#endif
