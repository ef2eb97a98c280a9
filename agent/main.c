/*
 * hs-agent: the reference agent. Parses the command line and runs one
 * command; state lives in agent_store, the me-channel in agent_channel.
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error,
 * 3 denied or failed, 4 timed out, 130 interrupted.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "hs_http.h"
#include "hs_log.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3
#define EXIT_TIMEOUT 4

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct opts {
    const char *server, *brokers, *home;
    const char *cmd;
    const char *provider;
    const char *requester; /* login --loopback: name on HS_REQUESTERS */
    int with_token, no_browser, loopback;
    long timeout_s;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hs-agent [--server URL] [--brokers B] [--home DIR] "
            "COMMAND\n\n"
            "  login <p> [--no-browser] [--timeout S]\n"
            "                            sign in with provider p in a "
            "browser\n"
            "  login <p> --loopback [--requester NAME] [--no-browser]\n"
            "                            the same, the browser bringing the "
            "result to a\n"
            "                            local port (NAME default hs-agent)\n"
            "  login --with-token        read an API token from standard "
            "input\n"
            "  connect <p> [--no-browser] [--timeout S]\n"
            "                            connect a provider; waits on the "
            "me-channel\n"
            "  token <p>                 print the access token (the stored "
            "one, or the\n"
            "                            server's when it expired)\n"
            "  disconnect <p>            disconnect provider p (server and "
            "local token)\n"
            "  listen                    print me-channel events until "
            "Ctrl-C, keeping\n"
            "                            the stored tokens up to date\n"
            "  logout                    revoke the API token at the "
            "server, forget\n"
            "                            the token, key and tokens here\n\n"
            "--server and --brokers are remembered after login. Home: "
            "--home,\n$HS_AGENT_HOME or ~/.config/hs-agent. Exit: 0 ok, 1 "
            "error, 2 usage,\n3 denied or failed, 4 timed out.\n");
}

static int provider_ok(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > 31)
        return 0;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

/* Parses argv into *o; 0 ok, else prints why and returns EXIT_USAGE. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_s = 600;
    o->requester = "hs-agent";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->cmd = "help";
            return 0;
        } else if (strcmp(a, "--server") == 0 && i + 1 < argc) {
            o->server = argv[++i];
        } else if (strcmp(a, "--brokers") == 0 && i + 1 < argc) {
            o->brokers = argv[++i];
        } else if (strcmp(a, "--home") == 0 && i + 1 < argc) {
            o->home = argv[++i];
        } else if (strcmp(a, "--with-token") == 0) {
            o->with_token = 1;
        } else if (strcmp(a, "--loopback") == 0) {
            o->loopback = 1;
        } else if (strcmp(a, "--requester") == 0 && i + 1 < argc) {
            o->requester = argv[++i];
        } else if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = 1;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;

            o->timeout_s = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || o->timeout_s < 1 ||
                o->timeout_s > 86400) {
                fprintf(stderr, "hs-agent: --timeout: expected seconds, 1 to "
                                "86400\n");
                return EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "hs-agent: unknown option %s\n", a);
            return EXIT_USAGE;
        } else if (!o->cmd) {
            o->cmd = a;
        } else if (!o->provider) {
            o->provider = a;
        } else {
            fprintf(stderr, "hs-agent: unexpected argument %s\n", a);
            return EXIT_USAGE;
        }
    }
    if (!o->cmd) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((strcmp(o->cmd, "connect") == 0 || strcmp(o->cmd, "token") == 0 ||
         strcmp(o->cmd, "disconnect") == 0 ||
         (strcmp(o->cmd, "login") == 0 && !o->with_token)) &&
        (!o->provider || !provider_ok(o->provider))) {
        fprintf(stderr, "hs-agent: %s needs a provider name ([A-Za-z0-9])\n",
                o->cmd);
        return EXIT_USAGE;
    }
    return 0;
}

static int allow_http(const char *server)
{
    const char *e = getenv("HS_INSECURE_HTTP");

    return (e && strcmp(e, "1") == 0) ||
           strncmp(server, "http://127.0.0.1", 16) == 0 ||
           strncmp(server, "http://localhost", 16) == 0 ||
           strncmp(server, "http://[::1]", 12) == 0;
}

/* Calls the server, waiting at most timeout_ms; HS_OK with *out the
 * parsed JSON body (or NULL). */
static enum hs_err api_wait(const struct agent_config *c, const char *method,
                            const char *path, json_t *body, long timeout_ms,
                            long *status, json_t **out)
{
    char url[512];
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct hs_http_request req = {
        .method = method, .url = url, .body = text,
        .body_len = text ? strlen(text) : 0,
        .content_type = text ? "application/json" : NULL,
        .bearer = c->api_token[0] ? c->api_token : NULL,
        .accept = "application/json", .timeout_ms = timeout_ms,
        .allow_http = allow_http(c->server)};
    struct hs_http_response res;
    enum hs_err rc;

    snprintf(url, sizeof(url), "%s%s", c->server, path);
    rc = hs_http_do(&req, &res);
    free(text);
    if (rc != HS_OK)
        return rc;
    *status = res.status;
    *out = json_loadb(res.body, res.len, 0, NULL);
    hs_http_response_cleanup(&res);
    return HS_OK;
}

static enum hs_err api(const struct agent_config *c, const char *method,
                       const char *path, json_t *body, long *status,
                       json_t **out)
{
    return api_wait(c, method, path, body, 15000, status, out);
}

static void say_server_error(long status, json_t *body)
{
    const char *m = json_string_value(json_object_get(body, "message"));

    fprintf(stderr, "hs-agent: the server answered %ld%s%s\n", status,
            m ? ": " : "", m ? m : "");
}

static int need_login(const char *home, struct agent_config *c)
{
    char err[600];
    enum hs_err rc = agent_store_load_config(home, c, err, sizeof(err));

    if (rc == HS_ERR_NOTFOUND || (rc == HS_OK && !c->api_token[0])) {
        fprintf(stderr, "hs-agent: not logged in: run hs-agent login <p> "
                        "(or login --with-token) first\n");
        return EXIT_USAGE;
    }
    if (rc != HS_OK) {
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* Opens url with xdg-open in the background (best effort). */
static void open_browser(const char *url)
{
    pid_t pid = fork();

    if (pid == 0) {
        dup2(2, 1);
        execlp("xdg-open", "xdg-open", url, (char *)NULL);
        fprintf(stderr, "hs-agent: no browser opener (xdg-open); open the "
                        "URL yourself\n");
        _exit(127);
    }
}

/* The signup flow (SPEC §2): draws the signup token, shows the URL with
 * its hash and the short code, and long-polls check-signup until the
 * browser side ends. HS_OK writes the API token into c->api_token; *rc is
 * the exit code otherwise. */
static enum hs_err signup(const struct opts *o, struct agent_config *c,
                          int *rc)
{
    char token[44], id[44], code[10], url[600], path[64];
    int64_t deadline = hs_now_ms() + o->timeout_s * 1000;
    json_t *body;
    enum hs_err result = HS_ERR_TIMEOUT;

    if (hs_random_token(32, token, sizeof(token)) != HS_OK) {
        *rc = EXIT_RUNTIME;
        return HS_ERR_INTERNAL;
    }
    hs_sha256_b64url(token, strlen(token), id);
    hs_user_code(id, code);
    snprintf(url, sizeof(url), "%s/web/provider-auth/%s?signup_id=%s",
             c->server, o->provider, id);
    printf("Open this URL in your browser to sign in with %s:\n  %s\n"
           "Check that the page shows the code: %s\n"
           "Waiting for the sign-in… (Ctrl-C to cancel)\n",
           o->provider, url, code);
    fflush(stdout);
    if (!o->no_browser)
        open_browser(url);
    body = json_pack("{s:s}", "token", token);
    *rc = EXIT_TIMEOUT;
    while (!interrupted && hs_now_ms() < deadline) {
        long status = 0, left = (long)(deadline - hs_now_ms()) / 1000;
        json_t *res = NULL;
        const char *st, *at;

        snprintf(path, sizeof(path), "/no-auth/check-signup?wait=%ld",
                 left < 1 ? 1 : left > 30 ? 30 : left);
        if (api_wait(c, "POST", path, body, 40000, &status, &res) != HS_OK) {
            sleep(1); /* the server may be restarting: keep waiting */
            continue;
        }
        st = json_string_value(json_object_get(res, "status"));
        at = json_string_value(json_object_get(res, "access_token"));
        if (status == 200 && st && strcmp(st, "complete") == 0 && at &&
            strlen(at) < sizeof(c->api_token)) {
            snprintf(c->api_token, sizeof(c->api_token), "%s", at);
            result = HS_OK;
        } else if ((status == 200 && st && strcmp(st, "failed") == 0) ||
                   status == 410) {
            const char *e = json_string_value(json_object_get(res, "error"));

            printf("login failed: %s\n", e ? e : "unknown");
            *rc = EXIT_FAILED;
            result = HS_ERR_DENIED;
        } else if (status == 429) {
            sleep(1);
        } else if (status != 202) {
            say_server_error(status, res);
            *rc = EXIT_RUNTIME;
            result = HS_ERR_PROVIDER;
        }
        json_decref(res);
        if (result != HS_ERR_TIMEOUT)
            break;
    }
    if (interrupted)
        *rc = 130;
    else if (result == HS_ERR_TIMEOUT)
        printf("timed out waiting for the sign-in\n");
    json_decref(body);
    hs_wipe(token, sizeof(token));
    return result;
}

/* The loopback flow (SPEC §2): listens on 127.0.0.1, sends the browser to
 * the server with its requester name and port, and redeems the handle the
 * browser brings back. HS_OK writes the API token into c->api_token; *rc
 * is the exit code otherwise. */
static enum hs_err loopback(const struct opts *o, struct agent_config *c,
                            int *rc)
{
    struct agent_loopback *lb = NULL;
    char url[700], code[44], from[100];
    json_t *body, *res = NULL;
    const char *at;
    uint16_t port;
    long status = 0;
    enum hs_err result;

    if (hs_http_urlencode(o->requester, from, sizeof(from)) != HS_OK) {
        fprintf(stderr, "hs-agent: --requester: the name is too long\n");
        *rc = EXIT_USAGE;
        return HS_ERR_INVALID;
    }
    if (agent_loopback_start(&lb, &port) != HS_OK) {
        fprintf(stderr, "hs-agent: cannot listen on 127.0.0.1\n");
        *rc = EXIT_RUNTIME;
        return HS_ERR_TRANSIENT;
    }
    snprintf(url, sizeof(url),
             "%s/web/provider-auth/%s?request_from=%s&port=%u", c->server,
             o->provider, from, (unsigned)port);
    printf("Open this URL in your browser to sign in with %s:\n  %s\n"
           "Then click \"Authorize %s\" there. Waiting on port %u… "
           "(Ctrl-C to cancel)\n",
           o->provider, url, o->requester, (unsigned)port);
    fflush(stdout);
    if (!o->no_browser)
        open_browser(url);
    result = agent_loopback_take(lb, code, sizeof(code),
                                 o->timeout_s * 1000, &interrupted);
    agent_loopback_free(lb);
    if (result != HS_OK) {
        *rc = interrupted ? 130 : EXIT_TIMEOUT;
        if (!interrupted)
            printf("timed out waiting for the sign-in\n");
        return HS_ERR_TIMEOUT;
    }
    body = json_pack("{s:s}", "code", code);
    hs_wipe(code, sizeof(code));
    result = api(c, "POST", "/no-auth/loopback-token", body, &status, &res);
    json_decref(body);
    at = json_string_value(json_object_get(res, "access_token"));
    if (result == HS_OK && status == 200 && at &&
        strlen(at) < sizeof(c->api_token)) {
        snprintf(c->api_token, sizeof(c->api_token), "%s", at);
    } else if (result == HS_OK && status == 400) {
        const char *m = json_string_value(json_object_get(res, "message"));

        printf("login failed: %s\n", m ? m : "the code was refused");
        *rc = EXIT_FAILED;
        result = HS_ERR_DENIED;
    } else {
        if (result == HS_OK)
            say_server_error(status, res);
        else
            fprintf(stderr, "hs-agent: cannot reach %s\n", c->server);
        *rc = EXIT_RUNTIME;
        result = HS_ERR_TRANSIENT;
    }
    json_decref(res);
    return result;
}

static int cmd_login(const struct opts *o, const char *home)
{
    struct agent_config c;
    struct agent_keys k;
    char line[600], err[600], pk64[48], host[64] = "agent", name[100];
    json_t *me = NULL, *reg = NULL;
    const char *who;
    long status = 0;
    size_t n;

    memset(&c, 0, sizeof(c));
    if (agent_store_load_config(home, &c, err, sizeof(err)) == HS_ERR_DECODE)
        memset(&c, 0, sizeof(c));
    if (o->server)
        snprintf(c.server, sizeof(c.server), "%s", o->server);
    if (o->brokers)
        snprintf(c.brokers, sizeof(c.brokers), "%s", o->brokers);
    if (!c.server[0]) {
        fprintf(stderr, "hs-agent: --server is required the first time\n");
        return EXIT_USAGE;
    }
    c.api_token[0] = '\0';
    if (!o->with_token) {
        int rc;

        if ((o->loopback ? loopback(o, &c, &rc) : signup(o, &c, &rc)) !=
            HS_OK)
            return rc;
    } else {
        if (!fgets(line, sizeof(line), stdin)) {
            fprintf(stderr, "hs-agent: no token on standard input\n");
            return EXIT_USAGE;
        }
        line[strcspn(line, "\r\n")] = '\0';
        n = strlen(line);
        if (n == 0 || n >= sizeof(c.api_token)) {
            hs_wipe(line, sizeof(line));
            fprintf(stderr, "hs-agent: the token on standard input is empty "
                            "or too long\n");
            return EXIT_USAGE;
        }
        memcpy(c.api_token, line, n + 1);
        hs_wipe(line, sizeof(line));
    }
    if (api(&c, "GET", "/api/me", NULL, &status, &me) != HS_OK) {
        fprintf(stderr, "hs-agent: cannot reach %s\n", c.server);
        return EXIT_RUNTIME;
    }
    if (status == 401) {
        json_decref(me);
        fprintf(stderr, "hs-agent: the token was refused\n");
        return EXIT_FAILED;
    }
    if (status != 200) {
        say_server_error(status, me);
        json_decref(me);
        return EXIT_RUNTIME;
    }
    if (agent_store_keys(home, &k, err, sizeof(err)) != HS_OK ||
        hs_b64url_encode(k.pk, sizeof(k.pk), pk64, sizeof(pk64)) != HS_OK) {
        json_decref(me);
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_RUNTIME;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(name, sizeof(name), "%s hs-agent", host);
    {
        json_t *body = json_pack("{s:s,s:s}", "public_key", pk64, "name", name);

        if (api(&c, "POST", "/api/agents", body, &status, &reg) != HS_OK ||
            status != 201) {
            json_decref(body);
            if (reg)
                say_server_error(status, reg);
            else
                fprintf(stderr, "hs-agent: cannot register this agent\n");
            json_decref(reg);
            json_decref(me);
            return EXIT_RUNTIME;
        }
        json_decref(body);
    }
    snprintf(c.agent_id, sizeof(c.agent_id), "%s",
             json_string_value(json_object_get(reg, "agent_id")));
    snprintf(c.user_id, sizeof(c.user_id), "%s",
             json_string_value(json_object_get(
                 json_object_get(me, "user"), "id")));
    if (agent_store_save_config(home, &c) != HS_OK) {
        fprintf(stderr, "hs-agent: cannot write %s/config.json\n", home);
        json_decref(reg);
        json_decref(me);
        return EXIT_RUNTIME;
    }
    who = json_string_value(json_object_get(json_object_get(me, "user"),
                                            "email"));
    if (!who || !*who)
        who = c.user_id;
    printf("signed in as %s\n", who);
    json_decref(reg);
    json_decref(me);
    hs_wipe(&k, sizeof(k));
    hs_wipe(&c, sizeof(c));
    return 0;
}

static int cmd_connect(const struct opts *o, const char *home)
{
    struct agent_config c;
    struct agent_keys k;
    struct agent_channel *ch = NULL;
    struct hs_event *ev = NULL;
    struct agent_token tok;
    char err[600], url[700], reason[400];
    json_t *body = NULL, *res = NULL;
    const char *code, *user_code;
    long status = 0;
    int64_t deadline;
    int rc;

    if ((rc = need_login(home, &c)) != 0)
        return rc;
    if (o->server)
        snprintf(c.server, sizeof(c.server), "%s", o->server);
    if (o->brokers)
        snprintf(c.brokers, sizeof(c.brokers), "%s", o->brokers);
    if (!c.brokers[0]) {
        fprintf(stderr, "hs-agent: --brokers is needed to listen on the "
                        "me-channel\n");
        return EXIT_USAGE;
    }
    if (agent_store_keys(home, &k, err, sizeof(err)) != HS_OK) {
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_RUNTIME;
    }
    /* Open the channel first: nothing sent after this can be missed. */
    err[0] = '\0';
    if (agent_channel_open(c.brokers, c.user_id, &ch, err, sizeof(err)) !=
        HS_OK) {
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_RUNTIME;
    }
    body = json_pack("{s:s}", "agent_id", c.agent_id);
    if (api(&c, "POST", "/api/provider-auth-code", body, &status, &res) !=
        HS_OK) {
        fprintf(stderr, "hs-agent: cannot reach %s\n", c.server);
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (status != 201) {
        say_server_error(status, res);
        rc = status == 401 ? EXIT_FAILED : EXIT_RUNTIME;
        goto out;
    }
    code = json_string_value(json_object_get(res, "code"));
    user_code = json_string_value(json_object_get(res, "user_code"));
    if (!code || !user_code) {
        fprintf(stderr, "hs-agent: the server's answer is not understood\n");
        rc = EXIT_RUNTIME;
        goto out;
    }
    snprintf(url, sizeof(url), "%s/web/provider-auth/%s?code=%s", c.server,
             o->provider, code);
    printf("Open this URL in your browser to connect %s:\n  %s\n"
           "Check that the page shows the code: %s\n"
           "Waiting for %s… (Ctrl-C to cancel)\n",
           o->provider, url, user_code, o->provider);
    fflush(stdout);
    if (!o->no_browser)
        open_browser(url);
    hs_wipe(url, sizeof(url));
    ev = malloc(sizeof(*ev));
    if (!ev) {
        rc = EXIT_RUNTIME;
        goto out;
    }
    deadline = hs_now_ms() + o->timeout_s * 1000;
    rc = EXIT_TIMEOUT;
    while (!interrupted && hs_now_ms() < deadline) {
        enum agent_outcome oc;

        if (agent_channel_next(ch, 200, ev) != HS_OK)
            continue;
        oc = agent_channel_handle(ev, c.agent_id, o->provider, &k, &tok,
                                  reason, sizeof(reason));
        hs_event_wipe(ev);
        if (oc == AGENT_CONNECTED) {
            if (agent_store_save_token(home, o->provider, &tok) != HS_OK) {
                fprintf(stderr, "hs-agent: cannot store the token\n");
                rc = EXIT_RUNTIME;
            } else {
                printf("connected %s\n", o->provider);
                rc = 0;
            }
            hs_wipe(&tok, sizeof(tok));
            break;
        }
        if (oc == AGENT_FAILED) {
            printf("connect failed: %s\n", reason);
            rc = EXIT_FAILED;
            break;
        }
    }
    if (interrupted)
        rc = 130;
    else if (rc == EXIT_TIMEOUT)
        printf("timed out waiting for %s\n", o->provider);
out:
    json_decref(body);
    json_decref(res);
    free(ev);
    agent_channel_free(ch);
    hs_wipe(&k, sizeof(k));
    hs_wipe(&c, sizeof(c));
    return rc;
}

/* Replaces control characters in s (text from the server or a provider)
 * so that one event stays one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Stores a token from the me-channel. token.issued (a new connect) always
 * replaces the stored one; token.refreshed only when it is not older, as
 * messages can arrive out of order. 1 when stored, 0 when the stored
 * token was kept, -1 on a write error. */
static int listen_store(const char *home, const struct hs_event *ev,
                        const struct agent_token *tok)
{
    struct agent_token stored;
    int keep = 0;

    if (ev->type == HS_EV_TOKEN_REFRESHED &&
        agent_store_load_token(home, ev->provider, &stored) == HS_OK)
        keep = !agent_token_supersedes(tok, &stored);
    hs_wipe(&stored, sizeof(stored));
    if (keep)
        return 0;
    return agent_store_save_token(home, ev->provider, tok) == HS_OK ? 1 : -1;
}

/* Acts on one judged me-channel event and prints its line,
 * "<type> <provider>" and what it meant, then flushes stdout (a caller may
 * be reading line by line). */
static void listen_print(const char *home, const struct hs_event *ev,
                         enum agent_outcome oc, const struct agent_token *tok,
                         char *reason)
{
    const char *type = hs_event_type_name(ev->type);
    const char *p = ev->provider;

    if (!type)
        type = "unknown";
    one_line(reason);
    switch (oc) {
    case AGENT_CONNECTED: {
        int stored = listen_store(home, ev, tok);

        if (stored < 0)
            fprintf(stderr, "hs-agent: cannot store the %s token\n", p);
        printf("%s %s%s\n", type, p,
               stored == 0 ? " (older than the stored token: kept that one)"
                           : "");
        break;
    }
    case AGENT_FAILED:
        printf("%s %s %s\n", type, p, reason);
        break;
    case AGENT_DISCONNECTED:
        if (agent_store_delete_token(home, p) != HS_OK)
            fprintf(stderr, "hs-agent: cannot delete the stored %s token\n",
                    p);
        printf("%s %s\n", type, p);
        break;
    case AGENT_REAUTH:
        printf("%s %s: the connection to %s needs you to sign in again; "
               "run: hs-agent connect %s%s%s%s\n",
               type, p, p, p, *reason ? " (" : "", reason,
               *reason ? ")" : "");
        break;
    case AGENT_IGNORE:
    default:
        /* Not sealed to this agent's key, or not understood: nothing
         * was done, and the line says so. */
        printf("%s %s (ignored: not a message this agent can open)\n", type,
               p);
        break;
    }
    fflush(stdout);
}

static int cmd_listen(const struct opts *o, const char *home)
{
    struct agent_config c;
    struct agent_keys k;
    struct agent_channel *ch = NULL;
    struct hs_event *ev;
    struct agent_token tok;
    char err[600], reason[400];
    int rc;

    if ((rc = need_login(home, &c)) != 0)
        return rc;
    if (o->brokers)
        snprintf(c.brokers, sizeof(c.brokers), "%s", o->brokers);
    if (agent_store_keys(home, &k, err, sizeof(err)) != HS_OK ||
        agent_channel_open(c.brokers, c.user_id, &ch, err, sizeof(err)) !=
            HS_OK) {
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_RUNTIME;
    }
    ev = malloc(sizeof(*ev));
    printf("listening on the me-channel (Ctrl-C to stop)\n");
    fflush(stdout);
    while (ev && !interrupted) {
        enum agent_outcome oc;

        /* The provider names a file under tokens/: only [A-Za-z0-9]+
         * (sealed boxes are anonymous; the name is not to be trusted). */
        if (agent_channel_next(ch, 200, ev) != HS_OK ||
            strcmp(ev->agent_id, c.agent_id) != 0 ||
            !provider_ok(ev->provider))
            continue;
        oc = agent_channel_handle(ev, c.agent_id, ev->provider, &k, &tok,
                                  reason, sizeof(reason));
        listen_print(home, ev, oc, &tok, reason);
        hs_event_wipe(ev);
        hs_wipe(&tok, sizeof(tok));
    }
    free(ev);
    agent_channel_free(ch);
    hs_wipe(&k, sizeof(k));
    return 0;
}

/* A stored token is used while it has more than this left. */
#define TOKEN_MARGIN_MS 30000
/* GET .../token answers 503 "refreshing" while the server refreshes an
 * expired token: ask this many times, TOKEN_RETRY_S apart. */
#define TOKEN_TRIES 5
#define TOKEN_RETRY_S 2

static int refused(void)
{
    fprintf(stderr, "hs-agent: the server refused the API token: run "
                    "hs-agent login again\n");
    return EXIT_FAILED;
}

/* Asks the server for the provider's token (GET /api/providers/{p}/token),
 * stores it and prints it; waits out a refresh the server is doing. */
static int token_from_server(const struct opts *o, const char *home,
                             const struct agent_config *c)
{
    struct agent_token t;
    char path[96];
    int rc = EXIT_RUNTIME;

    snprintf(path, sizeof(path), "/api/providers/%s/token", o->provider);
    for (int tries = 1;; tries++) {
        json_t *res = NULL;
        const char *e;
        long status = 0;

        if (api(c, "GET", path, NULL, &status, &res) != HS_OK) {
            fprintf(stderr, "hs-agent: cannot reach %s\n", c->server);
            return EXIT_RUNTIME;
        }
        e = json_string_value(json_object_get(res, "error"));
        if (status == 503 && e && strcmp(e, "refreshing") == 0 &&
            tries < TOKEN_TRIES && !interrupted) {
            json_decref(res);
            sleep(TOKEN_RETRY_S); /* a signal cuts it short */
            if (interrupted)
                return 130;
            continue;
        }
        if (status == 200 && agent_token_take(res, &t) == HS_OK) {
            if (agent_store_save_token(home, o->provider, &t) != HS_OK)
                fprintf(stderr, "hs-agent: cannot store the %s token\n",
                        o->provider);
            printf("%s\n", t.access_token);
            hs_wipe(&t, sizeof(t));
            rc = 0;
        } else if (status == 200) {
            fprintf(stderr, "hs-agent: the server's answer is not "
                            "understood\n");
        } else if (status == 404) {
            fprintf(stderr, "hs-agent: %s is not connected\n", o->provider);
        } else if (status == 409) {
            fprintf(stderr, "hs-agent: %s needs you to sign in again: run "
                    "hs-agent connect %s\n", o->provider, o->provider);
            rc = EXIT_FAILED;
        } else if (status == 503 && e && strcmp(e, "refreshing") == 0) {
            fprintf(stderr, "hs-agent: the server is still refreshing the "
                    "%s token after %d tries; try again in a moment\n",
                    o->provider, tries);
        } else if (status == 401) {
            rc = refused();
        } else {
            say_server_error(status, res);
        }
        json_decref(res);
        return rc;
    }
}

/* token <p>: the stored token while it is valid for more than
 * TOKEN_MARGIN_MS, else the server's (which refreshes it when needed). */
static int cmd_token(const struct opts *o, const char *home)
{
    struct agent_config c;
    struct agent_token t;
    int rc;

    if (agent_store_load_token(home, o->provider, &t) == HS_OK &&
        (t.expires_at == 0 || t.expires_at - hs_now_ms() > TOKEN_MARGIN_MS)) {
        printf("%s\n", t.access_token);
        hs_wipe(&t, sizeof(t));
        return 0;
    }
    hs_wipe(&t, sizeof(t));
    if ((rc = need_login(home, &c)) != 0)
        return rc;
    if (o->server)
        snprintf(c.server, sizeof(c.server), "%s", o->server);
    rc = token_from_server(o, home, &c);
    hs_wipe(&c, sizeof(c));
    return rc;
}

/* disconnect <p>: DELETE /api/providers/{p} (the server deletes and
 * revokes the tokens and tells the agents), then the local copy. */
static int cmd_disconnect(const struct opts *o, const char *home)
{
    struct agent_config c;
    char path[96];
    json_t *res = NULL;
    long status = 0;
    int rc;

    if ((rc = need_login(home, &c)) != 0)
        return rc;
    if (o->server)
        snprintf(c.server, sizeof(c.server), "%s", o->server);
    snprintf(path, sizeof(path), "/api/providers/%s", o->provider);
    if (api(&c, "DELETE", path, NULL, &status, &res) != HS_OK) {
        fprintf(stderr, "hs-agent: cannot reach %s\n", c.server);
        rc = EXIT_RUNTIME;
    } else if (status == 204 || status == 404) {
        /* Either way the server holds no token now: neither should we. */
        enum hs_err drc = agent_store_delete_token(home, o->provider);

        if (status == 204) {
            printf("disconnected %s\n", o->provider);
        } else {
            fprintf(stderr, "hs-agent: %s was not connected\n", o->provider);
            rc = EXIT_RUNTIME;
        }
        if (drc != HS_OK) {
            fprintf(stderr, "hs-agent: cannot delete the stored %s token\n",
                    o->provider);
            rc = EXIT_RUNTIME;
        }
    } else if (status == 401) {
        rc = refused();
    } else {
        say_server_error(status, res);
        rc = EXIT_RUNTIME;
    }
    json_decref(res);
    hs_wipe(&c, sizeof(c));
    return rc;
}

/* Revokes the API token at the server, then forgets everything here;
 * an unreachable server only costs the revocation (said so). */
static int cmd_logout(const struct opts *o, const char *home)
{
    struct agent_config c;
    json_t *res = NULL;
    char err[600];
    long status = 0;
    int rc = 0;

    if (agent_store_load_config(home, &c, err, sizeof(err)) == HS_OK &&
        c.api_token[0]) {
        if (o->server)
            snprintf(c.server, sizeof(c.server), "%s", o->server);
        if (api(&c, "DELETE", "/api/token", NULL, &status, &res) != HS_OK) {
            fprintf(stderr, "hs-agent: cannot reach %s: the API token was "
                            "not revoked there\n", c.server);
            rc = EXIT_RUNTIME;
        } else if (status != 204 && status != 401) {
            say_server_error(status, res);
            rc = EXIT_RUNTIME;
        }
        json_decref(res);
        hs_wipe(&c, sizeof(c));
    }
    agent_store_clear(home);
    printf("logged out: %sremoved the API token, key pair and tokens in "
           "%s\n", status == 204 ? "revoked and " : "", home);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    char home[512], err[600];
    struct sigaction sa;
    enum hs_log_level lv = HS_LOG_WARN;
    const char *lvs = getenv("HS_LOG_LEVEL");
    int rc = parse_args(argc, argv, &o);

    if (rc != 0)
        return rc;
    if (strcmp(o.cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (lvs)
        hs_log_level_parse(lvs, &lv);
    hs_log_init("hs-agent", lv);
    if (hs_crypto_init() != 0 || hs_http_global_init() != HS_OK)
        return EXIT_RUNTIME;
    if (agent_store_home(o.home, home, sizeof(home), err, sizeof(err)) !=
        HS_OK) {
        fprintf(stderr, "hs-agent: %s\n", err);
        return EXIT_USAGE;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (strcmp(o.cmd, "login") == 0)
        return cmd_login(&o, home);
    if (strcmp(o.cmd, "connect") == 0)
        return cmd_connect(&o, home);
    if (strcmp(o.cmd, "listen") == 0)
        return cmd_listen(&o, home);
    if (strcmp(o.cmd, "token") == 0)
        return cmd_token(&o, home);
    if (strcmp(o.cmd, "disconnect") == 0)
        return cmd_disconnect(&o, home);
    if (strcmp(o.cmd, "logout") == 0)
        return cmd_logout(&o, home);
    fprintf(stderr, "hs-agent: unknown command %s\n", o.cmd);
    usage(stderr);
    return EXIT_USAGE;
}
