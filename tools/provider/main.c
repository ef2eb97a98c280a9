/*
 * hs-demo-provider: a development-only OAuth 2.0 provider. It approves
 * every authorization without asking, so it must never face a real user;
 * hs-dev and the integration tests use it as the provider "demo".
 *
 *   GET  /authorize  checks the request (response_type, client_id, a
 *                    loopback redirect_uri, PKCE S256, state) and answers
 *                    302 redirect_uri?code=…&state=… (error=access_denied
 *                    with --deny)
 *   POST /token      authorization_code grant: client auth (basic or
 *                    post), single-use code, PKCE verifier, same
 *                    redirect_uri; a second use of a code is refused.
 *                    refresh_token grant: rotates the refresh token every
 *                    time; presenting a rotated one again is a reuse
 *                    (counted, the grant is revoked, invalid_grant) unless
 *                    it comes within the grace period, which answers the
 *                    same successor again (as Auth0 and Okta do)
 *   POST /revoke     RFC 7009: revokes the grant of a refresh or access
 *                    token; 200 also for an unknown token
 *   GET  /userinfo   Bearer: 200 {"sub"} for a live access token, else 401
 *   GET  /stats      {"token_requests", "codes_issued", "issued": [...],
 *                    "refreshes": [...], "refresh_reuse", "revoked": [...],
 *                    "faulted"}: how tests check that a code was
 *                    exchanged once, that the agent holds the exact token
 *                    issued, that no refresh token was used twice, that
 *                    no code, verifier or token leaked anywhere, and how
 *                    many token requests a code_fault answered
 *                    (token_requests counts them too)
 *   POST /control?subject=S&id_token=K&fail=F&delay_ms=D&grace_s=G
 *                    what the next token responses say: the account (sub
 *                    S, email S@example.com; default "demo") and, for
 *                    tests of the ID token checks, one broken claim in
 *                    the next ID token only: K is wrong_aud, wrong_iss,
 *                    expired, wrong_nonce, missing or ok. F: how refresh
 *                    and revoke requests fail from now on (500,
 *                    invalid_grant, none); D: delay of every token
 *                    request, ms; G: the refresh grace period, seconds
 *   POST /control?code_fault=C&code_fault_count=N&code_fault_ms=S
 *                    how the next N authorization_code token requests
 *                    fail (N 0 or absent: until changed), after client
 *                    authentication and before the code is looked at, so
 *                    a faulted request never uses the code and a retry
 *                    can still succeed: C is 500 (server_error), 503
 *                    (temporarily_unavailable, Retry-After: 1), 429
 *                    (slow_down, Retry-After: 1), close (the connection
 *                    is dropped without an answer), malformed (200 with
 *                    an HTML body: a gateway's page, so the code is not
 *                    used either), slow (no answer for S ms, default
 *                    12000: past the default HS_HTTP_TIMEOUT_MS; then a
 *                    503 nobody reads) or none. Refresh requests are not
 *                    affected (fail= is theirs)
 *
 * --access-ttl S (or $HS_DEMO_ACCESS_TTL) sets expires_in (default 3600). SIGUSR1 takes the
 * provider down (connections refused), SIGUSR2 brings it back on the same
 * port with its state.
 *
 * With "openid" in the scope, the token response carries an ID token
 * (HS256 with the client secret) whose iss is this provider's URL, aud the
 * client id and nonce the one of the authorization request.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "hs_crypto.h"
#include "hs_http.h"
#include "hs_log.h"

#define MAX_CODES 65536 /* codes not yet exchanged: a soak's backlog */
/* RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes
 * is RECOMMENDED"; GitHub's and Microsoft's are 10 minutes. */
#define CODE_TTL_MS 600000

/* A code is "<slot, 4 hex digits>.<random>": its slot is found at once. */
struct code {
    char code[64];
    char challenge[44];
    char redirect_uri[400];
    char scope[256];
    char nonce[128];
    int64_t issued_ms;
    int used;
};

#define MAX_GRANTS 4096

/* One authorization: its current tokens, and the refresh token it had
 * before the last rotation (for the grace period). */
struct grant {
    char at[64], rt[64], prev_rt[64];
    char scope[256];
    int64_t at_expires_ms, rotated_ms;
    int revoked;
};

static struct {
    const char *client_id;
    const char *client_secret;
    int deny;
    int token_delay_ms;
    pthread_mutex_t lock;
    struct code codes[MAX_CODES];
    size_t next;
    long token_requests, codes_issued;
    json_t *issued;
    char issuer[96];
    char subject[64];       /* the account that signs in */
    char id_token_fault[16]; /* next ID token only; "" = none */
    int access_ttl_s;
    char fail[16];           /* refresh and revoke: "", "500", ... */
    int grace_s;
    struct grant grants[MAX_GRANTS];
    size_t ngrants;
    long refresh_reuse;
    json_t *refreshes, *revoked, *used_rts;
    json_t *access; /* every access token: [grant, expires_ms] */
    char code_fault[16];     /* authorization_code requests: "" = none */
    long code_fault_left;    /* requests still faulted; 0 = until changed */
    int code_fault_ms;       /* "slow": how long it keeps quiet */
    long faulted;            /* requests a code_fault answered */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .subject = "demo",
       .access_ttl_s = 3600, .code_fault_ms = 12000};

static volatile sig_atomic_t running = 1, down;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        down = 1;
    else if (sig == SIGUSR2)
        down = 0;
    else
        running = 0;
}

struct req {
    int seen;
    char *body;
    size_t len;
};

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status,
                                 const char *ctype, char *text)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(text), text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status,
                                 json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    enum MHD_Result ret = send_text(conn, status, "application/json", text);

    free(text);
    json_decref(o);
    return ret;
}

static enum MHD_Result oauth_error(struct MHD_Connection *conn,
                                   unsigned status, const char *error)
{
    return send_json(conn, status, json_pack("{s:s}", "error", error));
}

static enum MHD_Result page(struct MHD_Connection *conn, unsigned status,
                            const char *text)
{
    char html[512];

    snprintf(html, sizeof(html),
             "<!doctype html><title>demo provider</title><h1>Demo provider "
             "(development only)</h1><p>%s</p>", text);
    return send_text(conn, status, "text/html; charset=utf-8", html);
}

static int loopback_uri(const char *u)
{
    return strncmp(u, "http://127.0.0.1:", 17) == 0 ||
           strncmp(u, "http://127.0.0.1/", 17) == 0 ||
           strncmp(u, "http://localhost:", 17) == 0;
}

static enum MHD_Result authorize(struct MHD_Connection *conn)
{
#define ARG(n) MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, n)
    const char *rt = ARG("response_type"), *cid = ARG("client_id");
    const char *ru = ARG("redirect_uri"), *cc = ARG("code_challenge");
    const char *ccm = ARG("code_challenge_method"), *state = ARG("state");
    const char *scope = ARG("scope"), *nonce = ARG("nonce");
#undef ARG
    char code[64], rnd[48], q[1400], loc[2048];
    struct code *c;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!rt || strcmp(rt, "code") != 0 || !cid ||
        strcmp(cid, P.client_id) != 0 || !ru || !loopback_uri(ru) ||
        strlen(ru) >= sizeof(c->redirect_uri) || !cc || strlen(cc) != 43 ||
        !ccm || strcmp(ccm, "S256") != 0 || !state || strlen(state) > 600 ||
        (nonce && strlen(nonce) >= sizeof(c->nonce)))
        return page(conn, 400, "Bad authorization request.");
    q[0] = '\0';
    if (P.deny) {
        if (hs_http_form_add(q, sizeof(q), "error", "access_denied") ||
            hs_http_form_add(q, sizeof(q), "state", state))
            return page(conn, 400, "Bad authorization request.");
    } else {
        size_t slot;

        if (hs_random_token(32, rnd, sizeof(rnd)) != HS_OK)
            return MHD_NO;
        pthread_mutex_lock(&P.lock);
        slot = P.next++ % MAX_CODES;
        c = &P.codes[slot];
        memset(c, 0, sizeof(*c));
        snprintf(code, sizeof(code), "%04zx.%s", slot, rnd);
        snprintf(c->code, sizeof(c->code), "%s", code);
        snprintf(c->challenge, sizeof(c->challenge), "%s", cc);
        snprintf(c->redirect_uri, sizeof(c->redirect_uri), "%s", ru);
        snprintf(c->scope, sizeof(c->scope), "%s", scope ? scope : "");
        snprintf(c->nonce, sizeof(c->nonce), "%s", nonce ? nonce : "");
        c->issued_ms = hs_now_ms();
        P.codes_issued++;
        pthread_mutex_unlock(&P.lock);
        if (hs_http_form_add(q, sizeof(q), "code", code) ||
            hs_http_form_add(q, sizeof(q), "state", state))
            return page(conn, 400, "Bad authorization request.");
    }
    snprintf(loc, sizeof(loc), "%s%c%s", ru, strchr(ru, '?') ? '&' : '?', q);
    resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Location", loc);
    ret = MHD_queue_response(conn, MHD_HTTP_FOUND, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Client authentication: HTTP Basic (RFC 6749 §2.3.1) or in the body. */
static int client_ok(struct MHD_Connection *conn, const char *body_id,
                     const char *body_secret)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(conn, &pass);
    int ok;

    if (user) {
        ok = pass && strcmp(user, P.client_id) == 0 &&
             strcmp(pass, P.client_secret) == 0;
        MHD_free(user);
        if (pass)
            MHD_free(pass);
        return ok;
    }
    return body_id && body_secret && strcmp(body_id, P.client_id) == 0 &&
           strcmp(body_secret, P.client_secret) == 0;
}

/* Finds a form field in an x-www-form-urlencoded body (decoded in out). */
static const char *form_get(const char *body, const char *name, char *out,
                            size_t cap)
{
    size_t nl = strlen(name);
    const char *p = body;

    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;

            if (vl >= cap)
                return NULL;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            for (char *s = out; *s; s++)
                if (*s == '+')
                    *s = ' ';
            out[MHD_http_unescape(out)] = '\0';
            return out;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* base64url(json) appended to out at *n. -1 when it does not fit. */
static int b64_part(const void *data, size_t len, char *out, size_t cap,
                    size_t *n)
{
    if (hs_b64url_encode(data, len, out + *n, cap - *n) != HS_OK)
        return -1;
    *n += strlen(out + *n);
    return 0;
}

/* An ID token for the code's nonce, with P.id_token_fault applied (and
 * cleared). NULL for "missing". Caller frees. */
static char *id_token(const char *nonce)
{
    char fault[16], *jwt, *payload;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    int64_t now = hs_now_ms() / 1000;
    size_t n = 0, cap = 4096;
    char email[128];
    json_t *o;

    pthread_mutex_lock(&P.lock);
    snprintf(fault, sizeof(fault), "%s", P.id_token_fault);
    P.id_token_fault[0] = '\0';
    snprintf(email, sizeof(email), "%s@example.com", P.subject);
    o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "iss", P.issuer, "sub",
                  P.subject, "aud", P.client_id, "exp", (json_int_t)now + 300,
                  "iat", (json_int_t)now, "nonce", nonce, "email", email,
                  "name", P.subject);
    pthread_mutex_unlock(&P.lock);
    if (strcmp(fault, "missing") == 0) {
        json_decref(o);
        return NULL;
    }
    if (strcmp(fault, "wrong_aud") == 0)
        json_object_set_new(o, "aud", json_string("someone-else"));
    else if (strcmp(fault, "wrong_iss") == 0)
        json_object_set_new(o, "iss", json_string("https://evil.example"));
    else if (strcmp(fault, "expired") == 0)
        json_object_set_new(o, "exp", json_integer(now - 3600));
    else if (strcmp(fault, "wrong_nonce") == 0)
        json_object_set_new(o, "nonce", json_string("not-the-nonce"));
    payload = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    jwt = malloc(cap);
    if (!payload || !jwt || b64_part(header, strlen(header), jwt, cap, &n) ||
        (jwt[n++] = '.', b64_part(payload, strlen(payload), jwt, cap, &n))) {
        free(payload);
        free(jwt);
        return NULL;
    }
    free(payload);
    {
        crypto_auth_hmacsha256_state hst;

        crypto_auth_hmacsha256_init(&hst,
                                    (const unsigned char *)P.client_secret,
                                    strlen(P.client_secret));
        crypto_auth_hmacsha256_update(&hst, (const unsigned char *)jwt, n);
        crypto_auth_hmacsha256_final(&hst, mac);
    }
    jwt[n++] = '.';
    if (b64_part(mac, sizeof(mac), jwt, cap, &n)) {
        free(jwt);
        return NULL;
    }
    return jwt;
}

/* A decimal integer from 0 to max, the whole of s. */
static int small_int(const char *s, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 0 || v > max)
        return 0;
    *out = v;
    return 1;
}

static int code_fault_known(const char *f)
{
    static const char *const known[] = {"500", "503", "429", "close",
                                        "malformed", "slow", "none"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(f, known[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result control(struct MHD_Connection *conn)
{
    const char *sub = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                  "subject");
    const char *fault = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "id_token");
    const char *fail = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "fail");
    const char *delay = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "delay_ms");
    const char *grace = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "grace_s");
    const char *cfault = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "code_fault");
    const char *cfcount = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "code_fault_count");
    const char *cfms = MHD_lookup_connection_value(
        conn, MHD_GET_ARGUMENT_KIND, "code_fault_ms");
    long delay_ms = -1, grace_s = -1, cf_count = 0, cf_ms = -1;

    if ((delay && !small_int(delay, 60000, &delay_ms)) ||
        (grace && !small_int(grace, 86400, &grace_s)) ||
        (cfcount && !small_int(cfcount, 1000000, &cf_count)) ||
        (cfms && !small_int(cfms, 60000, &cf_ms)) ||
        (cfcount && !cfault) || (cfault && !code_fault_known(cfault)))
        return oauth_error(conn, 400, "invalid_request");
    if ((sub && (!*sub || strlen(sub) >= sizeof(P.subject) ||
                 strspn(sub, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                     strlen(sub))) ||
        (fault && strlen(fault) >= sizeof(P.id_token_fault)) ||
        (fail && strcmp(fail, "500") != 0 &&
         strcmp(fail, "invalid_grant") != 0 && strcmp(fail, "none") != 0))
        return oauth_error(conn, 400, "invalid_request");
    pthread_mutex_lock(&P.lock);
    if (sub)
        snprintf(P.subject, sizeof(P.subject), "%s", sub);
    if (fault)
        snprintf(P.id_token_fault, sizeof(P.id_token_fault), "%s",
                 strcmp(fault, "ok") == 0 ? "" : fault);
    if (fail)
        snprintf(P.fail, sizeof(P.fail), "%s",
                 strcmp(fail, "none") == 0 ? "" : fail);
    if (delay)
        P.token_delay_ms = (int)delay_ms;
    if (grace)
        P.grace_s = (int)grace_s;
    if (cfault) {
        snprintf(P.code_fault, sizeof(P.code_fault), "%s",
                 strcmp(cfault, "none") == 0 ? "" : cfault);
        P.code_fault_left = cf_count;
    }
    if (cfms)
        P.code_fault_ms = (int)cf_ms;
    pthread_mutex_unlock(&P.lock);
    return send_json(conn, 200, json_pack("{s:b}", "ok", 1));
}

/* Draws a fresh access and refresh token (each 64 bytes of room). */
static int new_tokens(char at[64], char rt[64])
{
    memcpy(at, "demo_at_", 8);
    memcpy(rt, "demo_rt_", 8);
    return hs_random_token(32, at + 8, 56) != HS_OK ||
           hs_random_token(32, rt + 8, 56) != HS_OK;
}

/* The grant whose current (or, with prev, previous) refresh token or
 * current access token is tok; NULL if none. Under P.lock. */
static struct grant *grant_of(const char *tok, int prev)
{
    for (size_t i = 0; i < P.ngrants; i++) {
        struct grant *g = &P.grants[i];

        if (prev ? strcmp(g->prev_rt, tok) == 0
                 : strcmp(g->rt, tok) == 0 || strcmp(g->at, tok) == 0)
            return g;
    }
    return NULL;
}

/* Remembers an access token of grant g until expires_ms. Under P.lock. */
static void access_issued(const struct grant *g, const char *at)
{
    json_object_set_new(P.access, at,
                        json_pack("[I,I]", (json_int_t)(g - P.grants),
                                  (json_int_t)g->at_expires_ms));
}

/* The refresh_token grant (RFC 6749 §6), rotating. */
static enum MHD_Result refresh(struct MHD_Connection *conn, const char *body)
{
    char rt[64], nat[64], nrt[64];
    struct grant *g;
    json_t *resp;
    int64_t now = hs_now_ms();

    if (!form_get(body, "refresh_token", rt, sizeof(rt)))
        return oauth_error(conn, 400, "invalid_request");
    if (new_tokens(nat, nrt) != 0)
        return MHD_NO;
    pthread_mutex_lock(&P.lock);
    if (strcmp(P.fail, "500") == 0) {
        pthread_mutex_unlock(&P.lock);
        return oauth_error(conn, 500, "server_error");
    }
    g = grant_of(rt, 0);
    if (g && strcmp(g->rt, rt) != 0)
        g = NULL; /* an access token is no refresh token */
    if (strcmp(P.fail, "invalid_grant") == 0 || (g && g->revoked)) {
        pthread_mutex_unlock(&P.lock);
        return oauth_error(conn, 400, "invalid_grant");
    }
    if (!g) {
        g = grant_of(rt, 1);
        if (g && !g->revoked && now - g->rotated_ms <= P.grace_s * 1000LL) {
            /* Within the grace period: the same successor again. */
            snprintf(nat, sizeof(nat), "%s", g->at);
            snprintf(nrt, sizeof(nrt), "%s", g->rt);
        } else {
            if (json_object_get(P.used_rts, rt)) {
                P.refresh_reuse++; /* a rotated token came back */
                if (g)
                    g->revoked = 1;
            }
            pthread_mutex_unlock(&P.lock);
            return oauth_error(conn, 400, "invalid_grant");
        }
    } else {
        json_object_set_new(P.used_rts, rt, json_true());
        snprintf(g->prev_rt, sizeof(g->prev_rt), "%s", g->rt);
        snprintf(g->rt, sizeof(g->rt), "%s", nrt);
        snprintf(g->at, sizeof(g->at), "%s", nat);
        g->rotated_ms = now;
        g->at_expires_ms = now + P.access_ttl_s * 1000LL;
        access_issued(g, nat);
        json_array_append_new(
            P.refreshes,
            json_pack("{s:I,s:I,s:s,s:s,s:s}", "grant",
                      (json_int_t)(g - P.grants), "at_ms", (json_int_t)now,
                      "used", rt, "access_token", nat, "refresh_token", nrt));
    }
    resp = json_pack("{s:s,s:s,s:i,s:s,s:s}", "access_token", nat,
                     "token_type", "Bearer", "expires_in", P.access_ttl_s,
                     "refresh_token", nrt, "scope", g->scope);
    pthread_mutex_unlock(&P.lock);
    return send_json(conn, 200, resp);
}

/* RFC 7009 revocation: the grant of the token is revoked. */
static enum MHD_Result revoke(struct MHD_Connection *conn, const char *body)
{
    char tok[64], hint[32] = "", cid[256], csec[256];
    const char *has_cid = form_get(body, "client_id", cid, sizeof(cid));
    const char *has_sec = form_get(body, "client_secret", csec, sizeof(csec));
    struct grant *g;

    if (!client_ok(conn, has_cid, has_sec))
        return oauth_error(conn, 401, "invalid_client");
    if (!form_get(body, "token", tok, sizeof(tok)))
        return oauth_error(conn, 400, "invalid_request");
    form_get(body, "token_type_hint", hint, sizeof(hint));
    pthread_mutex_lock(&P.lock);
    if (strcmp(P.fail, "500") == 0) {
        pthread_mutex_unlock(&P.lock);
        return oauth_error(conn, 503, "temporarily_unavailable");
    }
    g = grant_of(tok, 0);
    if (g)
        g->revoked = 1;
    json_array_append_new(P.revoked, json_pack("{s:s,s:s,s:b}", "token", tok,
                                               "hint", hint, "known",
                                               g != NULL));
    pthread_mutex_unlock(&P.lock);
    return send_json(conn, 200, json_object());
}

/* A resource: 200 for an access token of a live grant, until it expires
 * (a refresh does not end the previous one early, as at most
 * providers). */
static enum MHD_Result userinfo(struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   "Authorization");
    json_t *a = NULL;
    int ok = 0;

    pthread_mutex_lock(&P.lock);
    if (auth && strncmp(auth, "Bearer ", 7) == 0)
        a = json_object_get(P.access, auth + 7);
    if (a)
        ok = !P.grants[json_integer_value(json_array_get(a, 0))].revoked &&
             hs_now_ms() < json_integer_value(json_array_get(a, 1));
    pthread_mutex_unlock(&P.lock);
    if (!ok)
        return oauth_error(conn, 401, "invalid_token");
    return send_json(conn, 200, json_pack("{s:s}", "sub", P.subject));
}

/* 1 with the code fault of this authorization_code request in fault
 * (and, for slow, its time in *ms), counted; 0 when it is not faulted. */
static int take_code_fault(char fault[16], int *ms)
{
    int faulted;

    pthread_mutex_lock(&P.lock);
    faulted = P.code_fault[0] != '\0';
    if (faulted) {
        snprintf(fault, 16, "%s", P.code_fault);
        *ms = P.code_fault_ms;
        P.faulted++;
        if (P.code_fault_left > 0 && --P.code_fault_left == 0)
            P.code_fault[0] = '\0'; /* the last of N */
    }
    pthread_mutex_unlock(&P.lock);
    return faulted;
}

/* The answer of a faulted request (see the top of the file). MHD_NO
 * makes libmicrohttpd close the connection without a response. */
static enum MHD_Result code_fault_answer(struct MHD_Connection *conn,
                                         const char *fault, int ms)
{
    struct MHD_Response *resp;
    const char *text;
    unsigned status;
    enum MHD_Result ret;

    if (strcmp(fault, "close") == 0)
        return MHD_NO;
    if (strcmp(fault, "slow") == 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL);
    }
    if (strcmp(fault, "malformed") == 0) {
        char html[] = "<html><body>Bad gateway</body></html>";

        return send_text(conn, 200, "text/html", html);
    }
    if (strcmp(fault, "500") == 0)
        return oauth_error(conn, 500, "server_error");
    status = strcmp(fault, "429") == 0 ? 429 : 503;
    text = status == 429 ? "{\"error\":\"slow_down\"}"
                         : "{\"error\":\"temporarily_unavailable\"}";
    resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                           MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Retry-After", "1");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result token(struct MHD_Connection *conn, const char *body)
{
    char gt[64], code[128], verifier[160], ru[400], cid[256], csec[256];
    char challenge[44], at[64], rt[64], scope[256], nonce[128];
    char *idt = NULL;
    json_t *resp;
    const char *has_cid, *has_sec;
    struct code *c = NULL;
    char fault[16];
    int delay_ms, fault_ms;

    pthread_mutex_lock(&P.lock);
    P.token_requests++;
    delay_ms = P.token_delay_ms;
    pthread_mutex_unlock(&P.lock);
    if (delay_ms > 0) {
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    has_cid = form_get(body, "client_id", cid, sizeof(cid));
    has_sec = form_get(body, "client_secret", csec, sizeof(csec));
    if (!client_ok(conn, has_cid, has_sec))
        return oauth_error(conn, 401, "invalid_client");
    if (form_get(body, "grant_type", gt, sizeof(gt)) &&
        strcmp(gt, "refresh_token") == 0)
        return refresh(conn, body);
    if (!form_get(body, "grant_type", gt, sizeof(gt)) ||
        strcmp(gt, "authorization_code") != 0)
        return oauth_error(conn, 400, "unsupported_grant_type");
    if (take_code_fault(fault, &fault_ms))
        return code_fault_answer(conn, fault, fault_ms);
    if (!form_get(body, "code", code, sizeof(code)) ||
        !form_get(body, "code_verifier", verifier, sizeof(verifier)) ||
        !form_get(body, "redirect_uri", ru, sizeof(ru)))
        return oauth_error(conn, 400, "invalid_request");
    hs_pkce_challenge(verifier, challenge);
    pthread_mutex_lock(&P.lock);
    {
        char *end;
        unsigned long slot = strtoul(code, &end, 16);

        if (end == code + 4 && *end == '.' && slot < MAX_CODES &&
            strcmp(P.codes[slot].code, code) == 0)
            c = &P.codes[slot];
    }
    if (!c || c->used || hs_now_ms() - c->issued_ms > CODE_TTL_MS ||
        strcmp(c->challenge, challenge) != 0 ||
        strcmp(c->redirect_uri, ru) != 0) {
        if (c)
            c->used = 1; /* a replayed or wrong code burns it */
        pthread_mutex_unlock(&P.lock);
        return oauth_error(conn, 400, "invalid_grant");
    }
    c->used = 1;
    snprintf(scope, sizeof(scope), "%s", c->scope);
    snprintf(nonce, sizeof(nonce), "%s", c->nonce);
    pthread_mutex_unlock(&P.lock);
    if (new_tokens(at, rt) != 0)
        return MHD_NO;
    pthread_mutex_lock(&P.lock);
    if (P.ngrants < MAX_GRANTS) {
        struct grant *g = &P.grants[P.ngrants++];

        snprintf(g->at, sizeof(g->at), "%s", at);
        snprintf(g->rt, sizeof(g->rt), "%s", rt);
        snprintf(g->scope, sizeof(g->scope), "%s", scope);
        g->at_expires_ms = hs_now_ms() + P.access_ttl_s * 1000LL;
        access_issued(g, at);
    }
    json_array_append_new(P.issued,
                          json_pack("{s:s,s:s,s:s,s:s}", "access_token", at,
                                    "refresh_token", rt, "code", code,
                                    "code_verifier", verifier));
    pthread_mutex_unlock(&P.lock);
    resp = json_pack("{s:s,s:s,s:i,s:s,s:s}", "access_token", at,
                     "token_type", "Bearer", "expires_in", P.access_ttl_s,
                     "refresh_token", rt, "scope", scope);
    if (strstr(scope, "openid") && (idt = id_token(nonce)) != NULL)
        json_object_set_new(resp, "id_token", json_string(idt));
    free(idt);
    return send_json(conn, 200, resp);
}

static enum MHD_Result stats(struct MHD_Connection *conn)
{
    json_t *o;

    pthread_mutex_lock(&P.lock);
    o = json_pack("{s:I,s:I,s:O,s:O,s:I,s:O,s:I}", "token_requests",
                  (json_int_t)P.token_requests, "codes_issued",
                  (json_int_t)P.codes_issued, "issued", P.issued,
                  "refreshes", P.refreshes, "refresh_reuse",
                  (json_int_t)P.refresh_reuse, "revoked", P.revoked,
                  "faulted", (json_int_t)P.faulted);
    pthread_mutex_unlock(&P.lock);
    return send_json(conn, 200, o);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct req *r = *con_cls;

    (void)cls, (void)version;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        char *nb;

        if (r->len + *upload_size > 16384)
            return MHD_NO;
        nb = realloc(r->body, r->len + *upload_size + 1);
        if (!nb)
            return MHD_NO;
        r->body = nb;
        memcpy(r->body + r->len, upload, *upload_size);
        r->len += *upload_size;
        r->body[r->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->seen++)
        return MHD_YES;
    if (strcmp(url, "/authorize") == 0 && strcmp(method, "GET") == 0)
        return authorize(conn);
    if (strcmp(url, "/token") == 0 && strcmp(method, "POST") == 0)
        return token(conn, r->body ? r->body : "");
    if (strcmp(url, "/revoke") == 0 && strcmp(method, "POST") == 0)
        return revoke(conn, r->body ? r->body : "");
    if (strcmp(url, "/userinfo") == 0 && strcmp(method, "GET") == 0)
        return userinfo(conn);
    if (strcmp(url, "/stats") == 0 && strcmp(method, "GET") == 0)
        return stats(conn);
    if (strcmp(url, "/control") == 0 && strcmp(method, "POST") == 0)
        return control(conn);
    return oauth_error(conn, 404, "not_found");
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;

    (void)cls, (void)conn, (void)toe;
    if (r) {
        free(r->body);
        free(r);
    }
    *con_cls = NULL;
}

static struct MHD_Daemon *start(const struct sockaddr_in *sa)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, NULL,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
                            MHD_OPTION_THREAD_POOL_SIZE, 4U,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10U,
                            MHD_OPTION_END);
}

int main(int argc, char **argv)
{
    const char *listen_at = "127.0.0.1:0", *secret_env = "HS_DEMO_CLIENT_SECRET";
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *di;
    char host[64];
    const char *colon;

    P.client_id = "handshake-demo";
    if (getenv("HS_DEMO_ACCESS_TTL")) /* hs-dev passes its environment */
        P.access_ttl_s = (int)strtol(getenv("HS_DEMO_ACCESS_TTL"), NULL, 10);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen_at = argv[++i];
        else if (strcmp(argv[i], "--client-id") == 0 && i + 1 < argc)
            P.client_id = argv[++i];
        else if (strcmp(argv[i], "--client-secret-env") == 0 && i + 1 < argc)
            secret_env = argv[++i];
        else if (strcmp(argv[i], "--deny") == 0)
            P.deny = 1;
        else if (strcmp(argv[i], "--token-delay-ms") == 0 && i + 1 < argc)
            P.token_delay_ms = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--access-ttl") == 0 && i + 1 < argc)
            P.access_ttl_s = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(argc > 1 && strcmp(argv[i], "--help") == 0 ? stdout
                                                               : stderr,
                    "usage: hs-demo-provider [--listen 127.0.0.1:PORT] "
                    "[--client-id ID] [--client-secret-env VAR] [--deny] "
                    "[--token-delay-ms N] [--access-ttl S]\nA development-only OAuth provider "
                    "that approves without asking.\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    hs_log_init("hs-demo-provider", HS_LOG_INFO);
    if (hs_crypto_init() != 0)
        return 1;
    P.client_secret = getenv(secret_env);
    if (P.access_ttl_s < 1 || P.access_ttl_s > 86400) {
        fprintf(stderr, "hs-demo-provider: --access-ttl: 1 to 86400\n");
        return 2;
    }
    if (!P.client_secret || !*P.client_secret) {
        fprintf(stderr, "hs-demo-provider: %s: required but not set\n",
                secret_env);
        return 2;
    }
    colon = strrchr(listen_at, ':');
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    if (!colon || (size_t)(colon - listen_at) >= sizeof(host)) {
        fprintf(stderr, "hs-demo-provider: --listen: expected ip:port\n");
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "hs-demo-provider: --listen: expected ip:port\n");
        return 2;
    }
    P.issued = json_array();
    P.refreshes = json_array();
    P.revoked = json_array();
    P.used_rts = json_object();
    P.access = json_object();
    d = start(&sa);
    if (!d) {
        fprintf(stderr, "hs-demo-provider: cannot listen on %s\n", listen_at);
        return 1;
    }
    di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    sa.sin_port = htons(di ? di->port : 0); /* the same port when back up */
    snprintf(P.issuer, sizeof(P.issuer), "http://%s:%u", host,
             di ? di->port : 0);
    printf("provider %s\n", P.issuer);
    fflush(stdout);
    {
        /* sigaction: signal() under -std=c11 resets after one delivery. */
        struct sigaction act;

        memset(&act, 0, sizeof(act));
        act.sa_handler = on_signal;
        sigaction(SIGTERM, &act, NULL);
        sigaction(SIGINT, &act, NULL);
        sigaction(SIGUSR1, &act, NULL);
        sigaction(SIGUSR2, &act, NULL);
    }
    while (running) {
        struct timespec ts = {0, 50 * 1000 * 1000};

        nanosleep(&ts, NULL);
        if (down && d) { /* the listening socket closes: refused */
            MHD_stop_daemon(d);
            d = NULL;
            hs_log(HS_LOG_INFO, "provider.down");
        } else if (!down && !d) {
            d = start(&sa);
            hs_log(d ? HS_LOG_INFO : HS_LOG_ERROR,
                   d ? "provider.up" : "provider.cannot_listen");
        }
    }
    if (d)
        MHD_stop_daemon(d);
    json_decref(P.issued);
    json_decref(P.refreshes);
    json_decref(P.revoked);
    json_decref(P.used_rts);
    json_decref(P.access);
    return 0;
}
