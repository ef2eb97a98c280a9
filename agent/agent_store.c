/*
 * agent_store: the agent's files (contract in agent.h). Every file holds
 * secrets, so each is created 0600 in a 0700 directory and replaced
 * atomically; a file we cannot read back is an error, never ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int mkdir_p(const char *path)
{
    char buf[512];
    size_t n = strlen(path);

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

enum hs_err agent_store_home(const char *flag, char *out, size_t cap,
                             char *err, size_t errlen)
{
    const char *env = getenv("HS_AGENT_HOME"), *home = getenv("HOME");
    int n;

    if (flag && *flag)
        n = snprintf(out, cap, "%s", flag);
    else if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.config/hs-agent", home);
    else {
        snprintf(err, errlen, "no home directory: set HS_AGENT_HOME");
        return HS_ERR_CONFIG;
    }
    if (n < 0 || (size_t)n >= cap || mkdir_p(out) != 0) {
        snprintf(err, errlen, "cannot create the agent directory %s", out);
        return HS_ERR_CONFIG;
    }
    chmod(out, 0700);
    return HS_OK;
}

/* Writes json to home/name with mode 0600 via a temp file + rename. */
static enum hs_err write_json(const char *home, const char *name, json_t *o)
{
    char path[600], tmp[620];
    char *text = json_dumps(o, JSON_INDENT(2));
    int fd;
    size_t len;
    enum hs_err rc = HS_ERR_INTERNAL;

    if (!text)
        return HS_ERR_NOMEM;
    len = strlen(text);
    if (snprintf(path, sizeof(path), "%s/%s", home, name) >= (int)sizeof(path))
        goto out;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* A leftover temp file (any mode) or a planted symlink must not
     * decide the mode of a file that holds secrets. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0600) != 0) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        goto out;
    }
    rc = HS_OK;
out:
    hs_wipe(text, len);
    free(text);
    return rc;
}

static json_t *read_json(const char *home, const char *name)
{
    char path[600];

    if (snprintf(path, sizeof(path), "%s/%s", home, name) >= (int)sizeof(path))
        return NULL;
    return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

static int exists(const char *home, const char *name)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", home, name);
    return access(path, F_OK) == 0;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t cap,
                    int required)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);

    if (!v)
        return !required;
    if (!s) /* present but not a string: damaged, never "absent" */
        return 0;
    if (strlen(s) >= cap)
        return 0;
    memcpy(dst, s, strlen(s) + 1);
    return 1;
}

enum hs_err agent_store_load_config(const char *home, struct agent_config *c,
                                    char *err, size_t errlen)
{
    struct agent_config tmp;
    json_t *o;
    int ok;

    if (!exists(home, "config.json"))
        return HS_ERR_NOTFOUND;
    o = read_json(home, "config.json");
    memset(&tmp, 0, sizeof(tmp));
    ok = json_is_object(o) &&
         copy_str(o, "server", tmp.server, sizeof(tmp.server), 0) &&
         copy_str(o, "brokers", tmp.brokers, sizeof(tmp.brokers), 0) &&
         copy_str(o, "api_token", tmp.api_token, sizeof(tmp.api_token), 0) &&
         copy_str(o, "agent_id", tmp.agent_id, sizeof(tmp.agent_id), 0) &&
         copy_str(o, "user_id", tmp.user_id, sizeof(tmp.user_id), 0);
    json_decref(o);
    if (!ok) {
        snprintf(err, errlen, "%s/config.json is damaged: run hs-agent logout"
                 " and log in again", home);
        return HS_ERR_DECODE;
    }
    *c = tmp;
    hs_wipe(&tmp, sizeof(tmp));
    return HS_OK;
}

enum hs_err agent_store_save_config(const char *home,
                                    const struct agent_config *c)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "server", c->server,
                          "brokers", c->brokers, "api_token", c->api_token,
                          "agent_id", c->agent_id, "user_id", c->user_id);
    enum hs_err rc;

    if (!o)
        return HS_ERR_INVALID;
    rc = write_json(home, "config.json", o);
    json_decref(o);
    return rc;
}

enum hs_err agent_store_keys(const char *home, struct agent_keys *k,
                             char *err, size_t errlen)
{
    char pk64[48], sk64[48];
    json_t *o;
    size_t n1 = 0, n2 = 0;
    enum hs_err rc;

    if (exists(home, "agent.key")) {
        struct agent_keys tmp;
        const char *pk, *sk;

        o = read_json(home, "agent.key");
        pk = json_string_value(json_object_get(o, "public_key"));
        sk = json_string_value(json_object_get(o, "secret_key"));
        rc = pk && sk &&
                     hs_b64url_decode(pk, tmp.pk, sizeof(tmp.pk), &n1) ==
                         HS_OK &&
                     hs_b64url_decode(sk, tmp.sk, sizeof(tmp.sk), &n2) ==
                         HS_OK &&
                     n1 == sizeof(tmp.pk) && n2 == sizeof(tmp.sk)
                 ? HS_OK
                 : HS_ERR_DECODE;
        json_decref(o);
        if (rc != HS_OK) {
            snprintf(err, errlen, "%s/agent.key is damaged: run hs-agent "
                     "logout and log in again", home);
            return rc;
        }
        *k = tmp;
        hs_wipe(&tmp, sizeof(tmp));
        return HS_OK;
    }
    hs_box_keypair(k->pk, k->sk);
    if (hs_b64url_encode(k->pk, sizeof(k->pk), pk64, sizeof(pk64)) != HS_OK ||
        hs_b64url_encode(k->sk, sizeof(k->sk), sk64, sizeof(sk64)) != HS_OK)
        return HS_ERR_INTERNAL;
    o = json_pack("{s:s,s:s}", "public_key", pk64, "secret_key", sk64);
    rc = write_json(home, "agent.key", o);
    json_decref(o);
    hs_wipe(sk64, sizeof(sk64));
    if (rc != HS_OK)
        snprintf(err, errlen, "cannot write %s/agent.key", home);
    return rc;
}

enum hs_err agent_store_save_token(const char *home, const char *provider,
                                   const struct agent_token *t)
{
    char dir[600], name[80];
    json_t *o;
    enum hs_err rc;

    for (const char *c = provider; *c; c++) /* a file name, never a path */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return HS_ERR_INVALID;
    snprintf(dir, sizeof(dir), "%s/tokens", home);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return HS_ERR_INTERNAL;
    if (snprintf(name, sizeof(name), "tokens/%s.json", provider) >=
        (int)sizeof(name))
        return HS_ERR_INVALID;
    o = json_pack("{s:s,s:s,s:I,s:s}", "access_token", t->access_token,
                  "token_type", t->token_type, "expires_at",
                  (json_int_t)t->expires_at, "scopes", t->scopes);
    if (!o)
        return HS_ERR_INVALID;
    rc = write_json(home, name, o);
    json_decref(o);
    return rc;
}

enum hs_err agent_store_load_token(const char *home, const char *provider,
                                   struct agent_token *t)
{
    char name[80];
    json_t *o;
    int ok;

    if (snprintf(name, sizeof(name), "tokens/%s.json", provider) >=
        (int)sizeof(name))
        return HS_ERR_INVALID;
    if (!exists(home, name))
        return HS_ERR_NOTFOUND;
    o = read_json(home, name);
    memset(t, 0, sizeof(*t));
    ok = json_is_object(o) &&
         copy_str(o, "access_token", t->access_token,
                  sizeof(t->access_token), 1) &&
         copy_str(o, "token_type", t->token_type, sizeof(t->token_type), 1) &&
         copy_str(o, "scopes", t->scopes, sizeof(t->scopes), 0);
    if (ok)
        t->expires_at = json_integer_value(json_object_get(o, "expires_at"));
    json_decref(o);
    return ok ? HS_OK : HS_ERR_DECODE;
}

enum hs_err agent_store_delete_token(const char *home, const char *provider)
{
    char path[700];

    if (!*provider)
        return HS_ERR_INVALID;
    for (const char *c = provider; *c; c++) /* a file name, never a path */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return HS_ERR_INVALID;
    if (snprintf(path, sizeof(path), "%s/tokens/%s.json", home, provider) >=
        (int)sizeof(path))
        return HS_ERR_INVALID;
    if (unlink(path) != 0 && errno != ENOENT)
        return HS_ERR_INTERNAL;
    return HS_OK;
}

int agent_token_supersedes(const struct agent_token *incoming,
                           const struct agent_token *stored)
{
    if (!stored || incoming->expires_at == 0)
        return 1;
    if (stored->expires_at == 0) /* never expires: nothing is newer */
        return 0;
    return incoming->expires_at >= stored->expires_at;
}

void agent_store_clear(const char *home)
{
    static const char *const files[] = {"config.json", "agent.key"};
    char path[600];

    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", home, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/tokens", home);
    {
        DIR *d = opendir(path);
        struct dirent *e;

        while (d && (e = readdir(d))) {
            char f[900];

            if (e->d_name[0] == '.')
                continue;
            snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
            unlink(f);
        }
        if (d)
            closedir(d);
        rmdir(path);
    }
}
