/*
 * ingress_pages: HTML escaping, the page skeleton and the words of the
 * handshake progress page (see ingress_pages.h).
 */
#include "ingress_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum hs_err ingress_html_escape(const char *s, char *out, size_t cap)
{
    size_t j = 0;

    if (cap == 0)
        return HS_ERR_TOOBIG;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        size_t n = 1;

        switch (c) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            n = strlen(rep);
        } else if (c < 0x20 || c == 0x7f) {
            continue; /* nothing a page needs */
        } else if (c >= 0xc0) {
            /* Copy a UTF-8 sequence whole or not at all. */
            while (s[i + n] && ((unsigned char)s[i + n] & 0xc0) == 0x80 &&
                   n < 4)
                n++;
        }
        if (j + n >= cap) {
            out[j] = '\0';
            return HS_ERR_TOOBIG;
        }
        memcpy(out + j, rep ? rep : s + i, n);
        j += n;
        if (!rep)
            i += n - 1;
    }
    out[j] = '\0';
    return HS_OK;
}

enum hs_err ingress_page_plain(struct ingress_page *pg, unsigned status,
                               const char *title, const char *text)
{
    size_t n;
    enum hs_err rc;

    pg->status = status;
    pg->refresh_s = 0;
    pg->form_to[0] = '\0';
    snprintf(pg->title, sizeof(pg->title), "%s", title);
    memcpy(pg->html, "<p>", 4);
    rc = ingress_html_escape(text, pg->html + 3, sizeof(pg->html) - 8);
    n = strlen(pg->html);
    memcpy(pg->html + n, "</p>", 5);
    if (rc == HS_OK && strlen(title) >= sizeof(pg->title))
        rc = HS_ERR_TOOBIG;
    return rc;
}

char *ingress_page_render(const struct ingress_page *pg)
{
    static const char fmt[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">%s"
        "<title>%s</title><style>body{font-family:system-ui,sans-serif;"
        "max-width:36em;margin:4em auto;padding:0 1em;line-height:1.5}"
        "code{font-size:1.3em;letter-spacing:.1em}button{font-size:1em;"
        "padding:.5em 1.5em}</style></head><body><h1>%s</h1>%s"
        "<p><small>handshake</small></p></body></html>\n";
    char refresh[64] = "", title[6 * sizeof(pg->title)];
    size_t cap;
    char *page;
    int n;

    (void)ingress_html_escape(pg->title, title, sizeof(title));
    if (pg->refresh_s > 0)
        snprintf(refresh, sizeof(refresh),
                 "<meta http-equiv=\"refresh\" content=\"%d\">",
                 pg->refresh_s);
    cap = sizeof(fmt) + strlen(refresh) + 2 * strlen(title) +
          strlen(pg->html);
    page = malloc(cap);
    if (!page)
        return NULL;
    n = snprintf(page, cap, fmt, refresh, title, title, pg->html);
    if (n < 0 || (size_t)n >= cap) { /* cannot happen: cap counts all */
        free(page);
        return NULL;
    }
    return page;
}

enum hs_err ingress_url_origin(const char *url, char *out, size_t cap)
{
    const char *host, *end;
    size_t n;

    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return HS_ERR_INVALID;
    end = host + strcspn(host, "/?#");
    if (end == host)
        return HS_ERR_INVALID;
    for (const char *c = host; c < end; c++)
        if (*c <= ' ' || *c == ';' || *c == ',' || *c == '\'' || *c == '@' ||
            (unsigned char)*c >= 0x7f)
            return HS_ERR_INVALID;
    n = (size_t)(end - url);
    if (n >= cap)
        return HS_ERR_TOOBIG;
    memcpy(out, url, n);
    out[n] = '\0';
    return HS_OK;
}

void ingress_provider_display(const char *name, char *out, size_t cap)
{
    if (cap == 0)
        return;
    snprintf(out, cap, "%s", name);
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 32);
}

/* Failure reasons in plain words. The exchange worker stores a machine
 * code: ours, or the provider's RFC 6749 error. */
static void plain_reason(const char *error, const char *pname, char *out,
                         size_t cap)
{
    if (strcmp(error, "provider_timeout") == 0)
        snprintf(out, cap, "%s did not answer in time.", pname);
    else if (strcmp(error, "interrupted") == 0)
        snprintf(out, cap, "the sign-in was interrupted.");
    else if (strcmp(error, "invalid_token_response") == 0)
        snprintf(out, cap, "%s sent an answer we could not use.", pname);
    else if (strcmp(error, "invalid_grant") == 0)
        snprintf(out, cap, "%s did not accept the sign-in (it expired or "
                 "was already used).", pname);
    else if (strcmp(error, "temporarily_unavailable") == 0 ||
             strcmp(error, "server_error") == 0)
        snprintf(out, cap, "%s had a problem on its side.", pname);
    else if (strcmp(error, "invalid_id_token") == 0)
        snprintf(out, cap, "%s sent an identity we could not trust.", pname);
    else if (strcmp(error, "userinfo_failed") == 0)
        snprintf(out, cap, "%s did not tell us who you are.", pname);
    else if (strcmp(error, "internal_error") == 0 || !error[0])
        snprintf(out, cap, "something went wrong on our side.");
    else
        snprintf(out, cap, "%s answered \"%.64s\".", pname, error);
}

void ingress_status_describe(const char *flow, const char *status,
                             const char *error, const char *provider,
                             int expired, struct ingress_page *pg)
{
    char pname[32], text[512], reason[256];
    /* connect delivers a provider's access; the other flows sign in. */
    int signin = strcmp(flow, "connect") != 0;
    const char *nothing = signin ? "Nobody was signed in." : "Nothing was "
                                                             "connected.";

    ingress_provider_display(provider, pname, sizeof(pname));
    if (strcmp(status, "complete") == 0) {
        if (signin)
            (void)ingress_page_plain(pg, 200, "Signed in",
                                     "Signed in. You can close this tab and "
                                     "return to your app.");
        else
            (void)ingress_page_plain(pg, 200, "Connected",
                                     "Connected. You can close this tab and "
                                     "return to your editor.");
    } else if (strcmp(status, "failed") == 0 &&
               strcmp(error, "access_denied") == 0) {
        snprintf(text, sizeof(text), "You declined access at %s. %s", pname,
                 nothing);
        (void)ingress_page_plain(pg, 200, "Access declined", text);
    } else if (strcmp(status, "failed") == 0) {
        plain_reason(error, pname, reason, sizeof(reason));
        snprintf(text, sizeof(text), "%s failed: %s %s Start again from "
                 "your %s.", signin ? "Signing in" : "Connecting", reason,
                 nothing, signin ? "app" : "editor");
        (void)ingress_page_plain(pg, 200,
                                 signin ? "Signing in failed"
                                        : "Connecting failed",
                                 text);
    } else if (strcmp(status, "started") == 0 && expired) {
        (void)ingress_page_plain(pg, 200, "Sign-in expired",
                                 "This sign-in expired. Start again from "
                                 "your editor.");
    } else {
        snprintf(text, sizeof(text),
                 "Connecting to %s\u2026 This page updates by itself.",
                 pname);
        (void)ingress_page_plain(pg, 200, "Connecting\u2026", text);
        pg->refresh_s = 1;
    }
}
