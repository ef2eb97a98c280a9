/* replay_seq: seen seqs as ranges per producer (contract in replay_seq.h). */
#include "replay_seq.h"

#include <stdlib.h>
#include <string.h>

struct range {
    int64_t lo, hi;
};

struct producer {
    char *svc;
    struct range *r;
    size_t n, cap;
};

struct replay_seqs {
    struct producer *p;
    size_t n, cap;
    size_t last; /* the producer found last: consecutive events often share */
};

struct replay_seqs *replay_seqs_new(void)
{
    return calloc(1, sizeof(struct replay_seqs));
}

void replay_seqs_free(struct replay_seqs *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->p[i].svc);
        free(s->p[i].r);
    }
    free(s->p);
    free(s);
}

static struct producer *producer(struct replay_seqs *s, const char *svc)
{
    struct producer *p;

    if (s->n && strcmp(s->p[s->last].svc, svc) == 0)
        return &s->p[s->last];
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->p[i].svc, svc) == 0) {
            s->last = i;
            return &s->p[i];
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct producer *np = realloc(s->p, cap * sizeof(*np));

        if (!np)
            return NULL;
        s->p = np;
        s->cap = cap;
    }
    p = &s->p[s->n];
    memset(p, 0, sizeof(*p));
    p->svc = strdup(svc);
    if (!p->svc)
        return NULL;
    s->last = s->n++;
    return p;
}

int replay_seqs_add(struct replay_seqs *s, const char *svc, int64_t seq)
{
    struct producer *p;
    size_t lo = 0, hi, i;

    if (seq < 1 || !(p = producer(s, svc)))
        return -1;
    hi = p->n;
    while (lo < hi) { /* i = first range with lo > seq */
        size_t mid = lo + (hi - lo) / 2;

        if (p->r[mid].lo > seq)
            hi = mid;
        else
            lo = mid + 1;
    }
    i = lo;
    if (i > 0 && p->r[i - 1].hi >= seq)
        return 0;
    if (i > 0 && p->r[i - 1].hi + 1 == seq) {
        p->r[i - 1].hi = seq;
        if (i < p->n && p->r[i].lo == seq + 1) { /* the gap closed */
            p->r[i - 1].hi = p->r[i].hi;
            memmove(&p->r[i], &p->r[i + 1], (p->n - i - 1) * sizeof(p->r[0]));
            p->n--;
        }
        return 1;
    }
    if (i < p->n && p->r[i].lo == seq + 1) {
        p->r[i].lo = seq;
        return 1;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        struct range *nr = realloc(p->r, cap * sizeof(*nr));

        if (!nr)
            return -1;
        p->r = nr;
        p->cap = cap;
    }
    memmove(&p->r[i + 1], &p->r[i], (p->n - i) * sizeof(p->r[0]));
    p->r[i].lo = p->r[i].hi = seq;
    p->n++;
    return 1;
}

size_t replay_seqs_gaps(const struct replay_seqs *s, replay_gap_fn fn,
                        void *arg)
{
    size_t gaps = 0;

    for (size_t i = 0; i < s->n; i++) {
        int64_t next = 1;

        for (size_t j = 0; j < s->p[i].n; j++) {
            if (s->p[i].r[j].lo > next) {
                if (fn)
                    fn(arg, s->p[i].svc, next, s->p[i].r[j].lo - 1);
                gaps++;
            }
            next = s->p[i].r[j].hi + 1;
        }
    }
    return gaps;
}

size_t replay_seqs_producers(const struct replay_seqs *s)
{
    return s->n;
}
