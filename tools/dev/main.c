/*
 * hs-dev: the whole handshake stack on one machine with no setup.
 *
 * In this process: a librdkafka mock cluster (3 brokers, real Kafka
 * protocol on 127.0.0.1) with the topics created. As children: a private
 * PostgreSQL under DIR/pg (run as user postgres when we are root), the
 * demo provider, hs-ingress, N hs-exchange, one hs-broadcaster and one
 * hs-refresher, all
 * found next to this executable. Prints "ingress", "kafka", "postgres",
 * "demo-token", "provider" lines, then "ready"; logs go to stderr. On
 * SIGINT/SIGTERM every child is stopped by PID and PostgreSQL is shut down.
 * SIGUSR1 takes hs.audit offline (its partitions lose their leader, as
 * when a real cluster loses them; the other topics keep working) and
 * SIGUSR2 brings it back: for trying how the services hold their answers.
 * SIGRTMIN takes every broker down (connections refused, as when the
 * whole cluster is unreachable) and SIGRTMIN+1 brings them up.
 * The FIFO DIR/control (printed as "control") takes the fault tests'
 * commands, one a line; see control_line().
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hs_crypto.h"
#include "hs_http.h"
#include "hs_log.h"
#include "hs_pg.h"

#define MAX_CHILDREN 40
#define DIR_MAX 1024 /* longer data or binary paths are refused */

struct child {
    pid_t pid;
    char name[32];
};

static struct child children[MAX_CHILDREN];
static int nchildren;
static volatile sig_atomic_t running = 1;
static volatile sig_atomic_t audit_down = -1; /* -1: no change asked */
static volatile sig_atomic_t kafka_down = -1;
static char bindir[DIR_MAX], datadir[DIR_MAX], pgbin[DIR_MAX];
static int temp_data;

#define NBROKERS 3
static const struct { const char *name; int parts; } topics[] = {
    {"hs.callbacks", 6}, {"hs.tokens", 6}, {"hs.me", 6},
    {"hs.audit", 3}, {"hs.dlq", 1}, {"hs.webhooks", 3}};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]))
static long audit_parts = 3;
static int leader_shift;              /* "leaders rotate" adds one */
static int broker_down[NBROKERS + 1]; /* by broker id */
static int audit_offline;

static void on_signal(int sig)
{
    if (sig == SIGUSR1 || sig == SIGUSR2)
        audit_down = sig == SIGUSR1;
    else if (sig == SIGRTMIN || sig == SIGRTMIN + 1)
        kafka_down = sig == SIGRTMIN;
    else
        running = 0;
}

static int start_postgres(char *conninfo, size_t cap);
static void stop_postgres(void);

static int topic_parts(size_t i)
{
    return strcmp(topics[i].name, "hs.audit") == 0 ? (int)audit_parts
                                                   : topics[i].parts;
}

/* Sets every partition's leader as a controller would: the first broker
 * that is up, from a start that "leaders rotate" moves; none for hs.audit
 * while it is offline (the other topics keep working). */
static void elect_leaders(rd_kafka_mock_cluster_t *mc)
{
    const char *prefix = getenv("HS_TOPIC_PREFIX");

    for (size_t i = 0; i < NTOPICS; i++) {
        int audit = strcmp(topics[i].name, "hs.audit") == 0;
        char t[128];

        snprintf(t, sizeof(t), "%s%s", prefix ? prefix : "", topics[i].name);
        for (int p = 0; p < topic_parts(i); p++) {
            int32_t leader = -1;

            for (int k = 0; k < NBROKERS && !(audit && audit_offline); k++) {
                int b = (p + leader_shift + k) % NBROKERS + 1;

                if (!broker_down[b]) {
                    leader = b;
                    break;
                }
            }
            rd_kafka_mock_partition_set_leader(mc, t, p, leader);
        }
    }
}

/* One control command:
 *   produce-errors N CODE  the next N produce requests (any broker) fail
 *                          with Kafka error CODE (a number; -195 is a
 *                          dropped connection)
 *   leaders rotate         every partition's leader moves to the next
 *                          broker
 *   broker B down|up       one broker refuses connections (its partitions
 *                          move to the others) or comes back
 *   audit down|up, kafka down|up   as SIGUSR1/2 and SIGRTMIN/+1
 *   postgres stop|start    a fast shutdown of PostgreSQL, or a start with
 *                          the same settings and data */
static void control_line(rd_kafka_mock_cluster_t *mc, const char *line)
{
    long n, code, b;
    char word[16];
    int ok = 1;

    if (sscanf(line, "produce-errors %ld %ld", &n, &code) == 2 && n > 0 &&
        n <= 100000) {
        rd_kafka_resp_err_t *errs = calloc((size_t)n, sizeof(*errs));

        if (!errs)
            return;
        for (long i = 0; i < n; i++)
            errs[i] = (rd_kafka_resp_err_t)code;
        rd_kafka_mock_push_request_errors_array(mc, 0 /* Produce */,
                                                (size_t)n, errs);
        free(errs);
    } else if (strcmp(line, "leaders rotate") == 0) {
        leader_shift++;
        elect_leaders(mc);
    } else if (sscanf(line, "broker %ld %15s", &b, word) == 2 && b >= 1 &&
               b <= NBROKERS &&
               (strcmp(word, "down") == 0 || strcmp(word, "up") == 0)) {
        broker_down[b] = strcmp(word, "down") == 0;
        if (broker_down[b]) {
            elect_leaders(mc);
            rd_kafka_mock_broker_set_down(mc, (int32_t)b);
        } else {
            rd_kafka_mock_broker_set_up(mc, (int32_t)b);
        }
    } else if (strcmp(line, "audit down") == 0 || strcmp(line, "audit up") == 0) {
        audit_offline = strcmp(line, "audit down") == 0;
        elect_leaders(mc);
    } else if (strcmp(line, "kafka down") == 0 || strcmp(line, "kafka up") == 0) {
        for (int32_t i = 1; i <= NBROKERS; i++)
            (strcmp(line, "kafka down") == 0 ? rd_kafka_mock_broker_set_down
                                             : rd_kafka_mock_broker_set_up)(mc, i);
    } else if (strcmp(line, "postgres stop") == 0) {
        stop_postgres();
    } else if (strcmp(line, "postgres start") == 0) {
        char conninfo[PATH_MAX + 100];

        ok = start_postgres(conninfo, sizeof(conninfo)) == 0;
    } else {
        ok = 0;
    }
    hs_log(ok ? HS_LOG_WARN : HS_LOG_ERROR,
           ok ? "dev.control" : "dev.control_refused",
           HS_KV_STR("command", line));
}

/* Runs the complete lines the FIFO holds; keeps a partial one. */
static void control_poll(rd_kafka_mock_cluster_t *mc, int fd)
{
    static char buf[512];
    static size_t len;
    ssize_t n;
    char *nl;

    while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            control_line(mc, buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof(buf) - 1)
            len = 0; /* a line this long is no command */
    }
}

static void die(const char *what)
{
    fprintf(stderr, "hs-dev: %s\n", what);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Runs argv (as user postgres when as_pg and we are root); returns the
 * exit status, or -1. Output goes to stderr. */
static int run(char *const argv[], int as_pg)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(2, 1);
        if (as_pg && geteuid() == 0) {
            struct passwd *pw = getpwnam("postgres");

            if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(127);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts a service child with stdout sent to out_fd (or stderr). */
static pid_t spawn(const char *name, char *const argv[], int out_fd)
{
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Nothing outlives hs-dev, even when it is killed hard. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out_fd >= 0 ? out_fd : 2, 1);
        if (getenv("HS_DEV_VALGRIND") && strcmp(getenv("HS_DEV_VALGRIND"),
                                                "1") == 0) {
            /* Memory checking of the services (tests): reports go to
             * stderr, the log the integration harness scans. */
            char *vargv[16] = {"valgrind", "-q", "--leak-check=full",
                               "--errors-for-leak-kinds=definite",
                               "--show-leak-kinds=definite"};
            int n = 5;

            for (int i = 0; argv[i] && n < 15; i++)
                vargv[n++] = argv[i];
            vargv[n] = NULL;
            execvp("valgrind", vargv);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (nchildren < MAX_CHILDREN) {
        children[nchildren].pid = pid;
        snprintf(children[nchildren].name, sizeof(children[0].name), "%s",
                 name);
        nchildren++;
    }
    return pid;
}

/* SIGTERM to every child, 15 s to finish (valgrind's exit checks take a
 * while), then SIGKILL, each killed one named in the log. */
static void stop_children(void)
{
    for (int i = nchildren - 1; i >= 0; i--)
        if (children[i].pid > 0)
            kill(children[i].pid, SIGTERM);
    for (int waited = 0; waited < 300; waited++) {
        int alive = 0;

        for (int i = 0; i < nchildren; i++) {
            if (children[i].pid > 0 &&
                waitpid(children[i].pid, NULL, WNOHANG) == 0)
                alive = 1;
            else
                children[i].pid = 0;
        }
        if (!alive)
            return;
        sleep_ms(50);
    }
    for (int i = 0; i < nchildren; i++) {
        if (children[i].pid > 0) {
            hs_log(HS_LOG_WARN, "dev.child_killed",
                   HS_KV_STR("program", children[i].name),
                   HS_KV_INT("pid", children[i].pid));
            kill(children[i].pid, SIGKILL);
            waitpid(children[i].pid, NULL, 0);
        }
    }
}

static int find_pgbin(void)
{
    const char *env = getenv("HS_PG_BIN");

    if (env && *env) {
        snprintf(pgbin, sizeof(pgbin), "%s", env);
        return 0;
    }
    for (int v = 20; v >= 12; v--) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "/usr/lib/postgresql/%d/bin/initdb", v);
        if (access(p, X_OK) == 0) {
            snprintf(pgbin, sizeof(pgbin), "/usr/lib/postgresql/%d/bin", v);
            return 0;
        }
    }
    return -1;
}

static int chown_pg(const char *path)
{
    struct passwd *pw;

    if (geteuid() != 0)
        return 0;
    pw = getpwnam("postgres");
    if (!pw)
        return -1;
    return chown(path, pw->pw_uid, pw->pw_gid);
}

/* Starts PostgreSQL under datadir/pg with its socket in datadir. */
static int start_postgres(char *conninfo, size_t cap)
{
    char pgdir[PATH_MAX], ver[PATH_MAX], initdb[PATH_MAX], pgctl[PATH_MAX];
    char opts[PATH_MAX + 200], logf[PATH_MAX];

    if (find_pgbin() != 0) {
        die("PostgreSQL server binaries not found (install postgresql, or "
            "set HS_PG_BIN)");
        return -1;
    }
    snprintf(pgdir, sizeof(pgdir), "%s/pg", datadir);
    snprintf(ver, sizeof(ver), "%s/pg/PG_VERSION", datadir);
    snprintf(initdb, sizeof(initdb), "%s/initdb", pgbin);
    snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", pgbin);
    snprintf(logf, sizeof(logf), "%s/postgres.log", datadir);
    if (access(ver, F_OK) != 0) {
        char *argv[] = {initdb, "-D", pgdir, "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8", NULL};

        if (mkdir(pgdir, 0700) != 0 && errno != EEXIST)
            return -1;
        if (chown_pg(pgdir) != 0 || run(argv, 1) != 0) {
            die("initdb failed");
            return -1;
        }
    }
    {
        int fd = open(logf, O_CREAT | O_WRONLY | O_APPEND, 0644);

        if (fd >= 0)
            close(fd);
        chown_pg(logf);
    }
    /* Every statement with its bind parameters goes to postgres.log, so
     * tests can prove no secret reaches the database in clear; the soak
     * turns it off (HS_DEV_PG_STATEMENTS=none). */
    {
        const char *ls = getenv("HS_DEV_PG_STATEMENTS");
        /* Durable as a deployment (the persistence benchmark); otherwise
         * fast, for tests. */
        const char *dur = getenv("HS_DEV_PG_DURABLE");
        const char *on = dur && strcmp(dur, "1") == 0 ? "on" : "off";

        if (ls && strcmp(ls, "none") != 0 && strcmp(ls, "all") != 0)
            ls = NULL;
        snprintf(opts, sizeof(opts),
                 "-c listen_addresses='' -c unix_socket_directories='%s' "
                 "-c port=5432 -c fsync=%s -c synchronous_commit=%s "
                 "-c full_page_writes=%s -c max_connections=200 "
                 "-c log_statement=%s",
                 datadir, on, on, on, ls ? ls : "all");
    }
    {
        char *argv[] = {pgctl, "-D", pgdir, "-o", opts, "-l", logf, "-w",
                        "-t", "60", "start", NULL};

        if (run(argv, 1) != 0) {
            die("PostgreSQL did not start (see postgres.log in the data "
                "directory)");
            return -1;
        }
    }
    snprintf(conninfo, cap, "host=%s port=5432 dbname=handshake user=postgres",
             datadir);
    return 0;
}

static void stop_postgres(void)
{
    char pgdir[PATH_MAX], pgctl[PATH_MAX];
    char *argv[] = {pgctl, "-D", pgdir, "-m", "fast", "-w", "stop", NULL};

    snprintf(pgdir, sizeof(pgdir), "%s/pg", datadir);
    snprintf(pgctl, sizeof(pgctl), "%s/pg_ctl", pgbin);
    run(argv, 1);
}

static int create_db(void)
{
    char url[PATH_MAX + 100], err[256];
    struct hs_pg *pg = NULL;
    PGresult *res = NULL;
    enum hs_err rc;

    snprintf(url, sizeof(url), "host=%s port=5432 dbname=postgres "
             "user=postgres", datadir);
    if (hs_pg_new(url, &pg, err, sizeof(err)) != HS_OK) {
        die(err);
        return -1;
    }
    rc = hs_pg_query(pg, "SELECT 1 FROM pg_database WHERE datname = "
                         "'handshake'", 0, NULL, &res);
    if (rc == HS_OK && PQntuples(res) == 0)
        rc = hs_pg_query(pg, "CREATE DATABASE handshake", 0, NULL, NULL);
    PQclear(res);
    hs_pg_free(pg);
    return rc == HS_OK ? 0 : -1;
}

/* Migrates and creates the demo user with a fresh API token. */
static int demo_user(const char *conninfo, char *token, size_t cap)
{
    struct hs_pg *pg = NULL;
    PGresult *res = NULL;
    char err[256], id[24], hash[44];
    enum hs_err rc;

    if (hs_pg_new(conninfo, &pg, err, sizeof(err)) != HS_OK ||
        hs_pg_migrate(pg, err, sizeof(err)) != HS_OK) {
        die(err);
        hs_pg_free(pg);
        return -1;
    }
    memcpy(token, "hst_", 5);
    if (hs_random_token(16, id, sizeof(id)) != HS_OK ||
        hs_random_token(32, token + 4, cap - 4) != HS_OK) {
        hs_pg_free(pg);
        return -1;
    }
    hs_sha256_b64url(token, strlen(token), hash);
    {
        const char *p[1] = {id};

        rc = hs_pg_query(pg,
                         "INSERT INTO users (id, issuer, subject, email, "
                         "name) VALUES ($1, 'hs-dev', 'demo', "
                         "'demo@example.com', 'Demo User') ON CONFLICT "
                         "(issuer, subject) DO UPDATE SET name = "
                         "EXCLUDED.name RETURNING id",
                         1, p, &res);
    }
    if (rc == HS_OK) {
        const char *p[2] = {hash, PQgetvalue(res, 0, 0)};

        rc = hs_pg_query(pg, "INSERT INTO api_tokens (token_hash, user_id) "
                             "VALUES ($1, $2)", 2, p, NULL);
    }
    PQclear(res);
    hs_pg_free(pg);
    return rc == HS_OK ? 0 : -1;
}

/* Writes datadir/providers.json: the given catalog (if any) plus "demo". */
static int write_catalog(const char *extra, const char *provider_url,
                         char *path, size_t cap)
{
    json_t *root = NULL, *provs, *demo;
    char url[300];
    int rc;

    if (extra) {
        root = json_load_file(extra, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(root) ||
            !json_is_object(json_object_get(root, "providers"))) {
            json_decref(root);
            die("--providers: not a catalog ({\"providers\": {...}})");
            return -1;
        }
    } else {
        root = json_pack("{s:{}}", "providers");
    }
    provs = json_object_get(root, "providers");
    if (!json_object_get(provs, "demo")) {
        demo = json_pack("{s:s,s:s,s:[ssss],s:s,s:s,s:s,s:b,s:b,s:s}",
                         "authorize_url", "", "token_url", "", "scopes",
                         "openid", "email", "read", "profile", "client_id",
                         "handshake-demo",
                         "client_secret_env", "HS_DEMO_CLIENT_SECRET",
                         "token_auth", "client_secret_basic", "pkce", 1,
                         "signin", 1, "issuer", provider_url);
        snprintf(url, sizeof(url), "%s/authorize", provider_url);
        json_object_set_new(demo, "authorize_url", json_string(url));
        snprintf(url, sizeof(url), "%s/token", provider_url);
        json_object_set_new(demo, "token_url", json_string(url));
        snprintf(url, sizeof(url), "%s/revoke", provider_url);
        json_object_set_new(demo, "revoke_url", json_string(url));
        json_object_set_new(demo, "refresh", json_true());
        json_object_set_new(provs, "demo", demo);
    }
    snprintf(path, cap, "%s/providers.json", datadir);
    rc = json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
    return rc;
}

static void setenv_default(const char *name, const char *value)
{
    const char *cur = getenv(name);

    if (!cur || !*cur)
        setenv(name, value, 1);
}

static void rm_rf(const char *path)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};

    run(argv, 0);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hs-dev [--port N] [--providers FILE] [--workers N] "
            "[--data DIR]\n"
            "Starts a mock Kafka cluster, a private PostgreSQL, the demo "
            "provider and\nevery handshake service; prints ingress, kafka, "
            "postgres, demo-token and\nprovider lines, then ready. Ctrl-C "
            "stops everything.\n"
            "  --port N        ingress port on 127.0.0.1 (default 8080)\n"
            "  --providers F   provider catalog to use besides \"demo\"\n"
            "  --workers N     hs-exchange processes (default 2)\n"
            "  --data DIR      keep PostgreSQL here (default: a temporary "
            "directory,\n                  removed on exit)\n"
            "Environment: every HS_* setting of the services passes to "
            "them (hs-dev sets\nthe Kafka, PostgreSQL, catalog and URL "
            "ones); HS_DEV_AUDIT_PARTITIONS (3)\npartitions of hs.audit; "
            "HS_DEV_PG_STATEMENTS=none keeps\nPostgreSQL's statement log off "
            "(default all); HS_DEV_PG_DURABLE=1 runs it with fsync and\n"
            "synchronous_commit on (default off); "
            "HS_DEV_VALGRIND=1 runs every service under valgrind.\n"
            "Signals: SIGUSR1/SIGUSR2 take hs.audit offline/back, "
            "SIGRTMIN/SIGRTMIN+1 every\nbroker down/up.\n"
            "Faults: write commands, one a line, to the FIFO printed as "
            "control:\n"
            "  produce-errors N CODE  the next N produce requests fail "
            "with Kafka error CODE\n"
            "  leaders rotate         every partition's leader moves to "
            "the next broker\n"
            "  broker B down|up       broker B (1-3) down, its partitions "
            "led elsewhere; up\n"
            "  audit down|up, kafka down|up   as the signals\n"
            "  postgres stop|start    PostgreSQL stopped (fast), or started "
            "again\n");
}

static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    return v;
}

static int wait_ready(const char *ingress)
{
    char url[300];

    snprintf(url, sizeof(url), "%s/readyz", ingress);
    for (int i = 0; i < 600 && running; i++) {
        struct hs_http_request req = {.method = "GET", .url = url,
                                      .allow_http = 1, .timeout_ms = 3000};
        struct hs_http_response res;

        if (hs_http_do(&req, &res) == HS_OK) {
            long status = res.status;

            hs_http_response_cleanup(&res);
            if (status == 200)
                return 0;
        }
        sleep_ms(100);
    }
    return -1;
}

int main(int argc, char **argv)
{
    long port = 8080, workers = 2;
    char control[DIR_MAX + 16];
    int control_fd = -1;
    const char *providers = NULL, *data = NULL;
    char conninfo[PATH_MAX + 100], token[64], catalog[PATH_MAX];
    char bootstrap[512], ingress_url[64], provider_url[200] = "";
    char self[PATH_MAX], prog[PATH_MAX], listen_at[64];
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    rd_kafka_conf_t *conf;
    char errstr[256];
    int pipefd[2], rc = 1, pg_started = 0;
    struct sigaction sa;
    ssize_t n;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--port") == 0 && i + 1 < argc) {
            if ((port = parse_num(argv[++i], 1, 65535)) < 0) {
                die("--port: expected 1..65535");
                return 2;
            }
        } else if (strcmp(a, "--workers") == 0 && i + 1 < argc) {
            if ((workers = parse_num(argv[++i], 0, 16)) < 0) {
                die("--workers: expected 0..16");
                return 2;
            }
        } else if (strcmp(a, "--providers") == 0 && i + 1 < argc) {
            providers = argv[++i];
        } else if (strcmp(a, "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    hs_log_init("hs-dev", HS_LOG_INFO);
    if (hs_crypto_init() != 0 || hs_http_global_init() != HS_OK)
        return 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGRTMIN, &sa, NULL);
    sigaction(SIGRTMIN + 1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    if (strrchr(self, '/') - self >= (long)sizeof(bindir))
        return 1;
    snprintf(bindir, sizeof(bindir), "%.*s", (int)(strrchr(self, '/') - self),
             self);

    /* The data directory: postgres must be able to traverse it. */
    if (data) {
        if (mkdir(data, 0755) != 0 && errno != EEXIST) {
            die("--data: cannot create the directory");
            return 2;
        }
        char real[PATH_MAX];

        if (!realpath(data, real) || strlen(real) >= sizeof(datadir)) {
            die("--data: cannot resolve the directory (or its path is over "
                "1023 bytes)");
            return 2;
        }
        memcpy(datadir, real, strlen(real) + 1);
    } else {
        snprintf(datadir, sizeof(datadir), "/tmp/hs-dev.XXXXXX");
        if (!mkdtemp(datadir)) {
            die("cannot create a temporary directory");
            return 1;
        }
        temp_data = 1;
    }
    chmod(datadir, 0755);
    chown_pg(datadir);

    /* 1. Kafka: the mock cluster lives in this process. */
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk || !(mc = rd_kafka_mock_cluster_new(rk, 3))) {
        die("cannot create the mock Kafka cluster");
        goto out;
    }
    {
        const char *prefix = getenv("HS_TOPIC_PREFIX");
        /* The mock keeps about 5 MB per partition (older batches go):
         * the replay benchmark asks for enough audit partitions. */
        const char *ap = getenv("HS_DEV_AUDIT_PARTITIONS");

        audit_parts = ap ? strtol(ap, NULL, 10) : 3;

        if (audit_parts < 1 || audit_parts > 1024) {
            die("HS_DEV_AUDIT_PARTITIONS: expected 1 to 1024");
            goto out;
        }
        for (size_t i = 0; i < NTOPICS; i++) {
            char t[128];
            int parts = topic_parts(i);

            snprintf(t, sizeof(t), "%s%s", prefix ? prefix : "",
                     topics[i].name);
            if (rd_kafka_mock_topic_create(mc, t, parts, 3)) {
                die("cannot create the topics");
                goto out;
            }
        }
    }
    snprintf(bootstrap, sizeof(bootstrap), "%s",
             rd_kafka_mock_cluster_bootstraps(mc));
    snprintf(control, sizeof(control), "%s/control", datadir);
    unlink(control);
    /* Read-write, so the FIFO never reads as closed between writers. */
    if (mkfifo(control, 0600) != 0 ||
        (control_fd = open(control, O_RDWR | O_NONBLOCK)) < 0) {
        die("cannot create the control FIFO");
        goto out;
    }

    /* 2. PostgreSQL. */
    if (start_postgres(conninfo, sizeof(conninfo)) != 0)
        goto out;
    pg_started = 1;
    if (create_db() != 0 || demo_user(conninfo, token, sizeof(token)) != 0) {
        die("cannot prepare the database");
        goto out;
    }

    /* 3. Secrets and the demo provider. */
    if (!getenv("HS_SECRET_KEYS") || !*getenv("HS_SECRET_KEYS")) {
        char key[48], spec[64];

        if (hs_random_token(32, key, sizeof(key)) != HS_OK)
            goto out;
        snprintf(spec, sizeof(spec), "dev1:%s", key);
        setenv("HS_SECRET_KEYS", spec, 1);
    }
    if (!getenv("HS_DEMO_CLIENT_SECRET")) {
        char s[48];

        if (hs_random_token(24, s, sizeof(s)) != HS_OK)
            goto out;
        setenv("HS_DEMO_CLIENT_SECRET", s, 1);
    }
    if (pipe(pipefd) != 0)
        goto out;
    snprintf(prog, sizeof(prog), "%s/hs-demo-provider", bindir);
    {
        char *pargv[] = {prog, "--listen", "127.0.0.1:0", NULL};
        char line[200];
        FILE *f;

        spawn("hs-demo-provider", pargv, pipefd[1]);
        close(pipefd[1]);
        f = fdopen(pipefd[0], "r");
        if (!f || !fgets(line, sizeof(line), f) ||
            strncmp(line, "provider ", 9) != 0) {
            die("the demo provider did not start");
            if (f)
                fclose(f);
            goto out;
        }
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        snprintf(provider_url, sizeof(provider_url), "%s", line + 9);
    }
    if (write_catalog(providers, provider_url, catalog, sizeof(catalog)) != 0)
        goto out;

    /* 4. The services, configured by environment. */
    snprintf(ingress_url, sizeof(ingress_url), "http://127.0.0.1:%ld", port);
    snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%ld", port);
    setenv_default("HS_ENV", "dev");
    setenv_default("HS_SIGNIN_PROVIDER", "demo");
    /* hs-agent login --loopback: any port on 127.0.0.1 (RFC 8252 §7.3). */
    setenv_default("HS_REQUESTERS", "hs-agent=http://127.0.0.1:*/callback");
    setenv("HS_KAFKA_BROKERS", bootstrap, 1);
    setenv_default("HS_KAFKA_OPTS", "fetch.wait.max.ms=5,linger.ms=1");
    /* Every worker serves /metrics on a port of its own (logged as
     * metrics.listening). */
    setenv_default("HS_METRICS_LISTEN", "127.0.0.1:0");
    setenv("HS_PG_URL", conninfo, 1);
    setenv("HS_PROVIDERS", catalog, 1);
    setenv("HS_INSECURE_HTTP", "1", 1);
    setenv("HS_PUBLIC_URL", ingress_url, 1);
    setenv("HS_LISTEN", listen_at, 1);
    {
        static const char *const progs[] = {"hs-ingress", "hs-broadcaster",
                                            "hs-refresher"};

        for (size_t i = 0; i < 3; i++) {
            char *cargv[] = {prog, NULL};

            snprintf(prog, sizeof(prog), "%s/%s", bindir, progs[i]);
            spawn(progs[i], cargv, -1);
        }
        for (long i = 0; i < workers; i++) {
            char *cargv[] = {prog, NULL};

            snprintf(prog, sizeof(prog), "%s/hs-exchange", bindir);
            spawn("hs-exchange", cargv, -1);
        }
    }
    printf("ingress %s\nkafka %s\npostgres %s\ndemo-token %s\nprovider %s\n"
           "control %s\n",
           ingress_url, bootstrap, conninfo, token, provider_url, control);
    fflush(stdout);
    hs_wipe(token, sizeof(token));
    if (wait_ready(ingress_url) != 0) {
        if (running)
            die("the ingress did not become ready within 60 s");
        goto out;
    }
    printf("ready\n");
    fflush(stdout);
    rc = 0;
    while (running) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (audit_down >= 0) {
            control_line(mc, audit_down ? "audit down" : "audit up");
            audit_down = -1;
        }
        if (kafka_down >= 0) {
            control_line(mc, kafka_down ? "kafka down" : "kafka up");
            kafka_down = -1;
        }
        if (control_fd >= 0)
            control_poll(mc, control_fd);
        if (pid > 0) {
            for (int i = 0; i < nchildren; i++) {
                if (children[i].pid == pid) {
                    hs_log(HS_LOG_ERROR, "dev.child_exited",
                           HS_KV_STR("program", children[i].name),
                           HS_KV_INT("pid", pid),
                           HS_KV_INT("status", WIFEXITED(status)
                                                   ? WEXITSTATUS(status)
                                                   : -WTERMSIG(status)));
                    children[i].pid = 0;
                }
            }
            continue;
        }
        sleep_ms(100);
    }
out:
    hs_log(HS_LOG_INFO, "dev.stopping");
    stop_children();
    if (pg_started)
        stop_postgres();
    if (control_fd >= 0) {
        close(control_fd);
        unlink(control);
    }
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    if (temp_data)
        rm_rf(datadir);
    return rc;
}
