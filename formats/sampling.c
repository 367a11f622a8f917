/*
 * sampling: see sampling.h.  Reads the job's body bytes with jsonscan (no
 * tree), so it costs a member scan per job, only when dedup is on.
 */
#include "sampling.h"
#include "jsonscan.h"

/* 1 if v is a JSON number literal whose value is zero. */
static int is_zero_number(jspan_t v)
{
    size_t i = 0;

    v = jsonscan_trim(v);
    if (i < v.n && v.p[i] == '-')
        i++;
    if (i >= v.n || v.p[i] != '0')
        return 0;
    i++;
    if (i < v.n && v.p[i] == '.') {
        i++;
        if (i >= v.n || v.p[i] < '0' || v.p[i] > '9')
            return 0;
        while (i < v.n && v.p[i] == '0')
            i++;
    }
    if (i < v.n && (v.p[i] == 'e' || v.p[i] == 'E')) {
        i++;
        if (i < v.n && (v.p[i] == '+' || v.p[i] == '-'))
            i++;
        if (i >= v.n)
            return 0;
        while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9')
            i++;
    }
    return i == v.n;
}

int job_is_deterministic(const job_t *j)
{
    jspan_t body, t;

    if (j->endpoint == EP_EMBEDDINGS)
        return 1;
    if (!j->body || !j->body_len)
        return 0;
    body.p = j->body;
    body.n = j->body_len;
    return jsonscan_member(jsonscan_trim(body), "temperature", &t) == 1 && is_zero_number(t);
}
