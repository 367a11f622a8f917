/*
 * batch_state: load and save CHECKPOINT.batches (see batch_state.h).
 * Format (version 1):
 *   {"version":1,"run":"<hex>","next_part":N,"parts":[{"n","provider",
 *    "model","endpoint","key","jobs","tokens","reserve_pusd","state","file_id",
 *    "batch_id","intent_at","phase","total","done","failed","rows_ok",
 *    "rows_failed","rows_back","cost_pusd","created_at","ended_at","note"}]}
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "batch_state.h"
#include "output.h"

static const char *const state_names[] = { "planned", "intent", "submitted", "closed" };

const char *bpart_state_name(int st)
{
    return st >= 0 && st <= BP_CLOSED ? state_names[st] : "?";
}

bpart_t *bstate_add(bstate_t *s)
{
    bpart_t *p;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        bpart_t *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    p = &s->v[s->n++];
    memset(p, 0, sizeof(*p));
    p->n = ++s->next_part;
    return p;
}

void bstate_release(bstate_t *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void get_str(const json_t *o, const char *k, char *dst, size_t n)
{
    const char *v = json_string_value(json_object_get(o, k));
    snprintf(dst, n, "%s", v ? v : "");
}

static uint64_t get_u(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

int bstate_load(const char *path, bstate_t *s, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root, *parts, *p;
    size_t i;
    int np;
    FILE *f = fopen(path, "rb");

    memset(s, 0, sizeof(*s));
    if (!f)
        return 0;
    root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root || json_integer_value(json_object_get(root, "version")) != 1 ||
        !json_is_array(parts = json_object_get(root, "parts"))) {
        snprintf(err, errlen, "%s: not a batch state file of this version (%s)", path,
                 root ? "wrong shape" : je.text);
        json_decref(root);
        return -1;
    }
    get_str(root, "run", s->run, sizeof(s->run));
    np = (int)get_u(root, "next_part");
    json_array_foreach(parts, i, p) {
        bpart_t *b = bstate_add(s);
        char st[16], prov[16];
        if (!b) {
            snprintf(err, errlen, "%s: out of memory", path);
            json_decref(root);
            bstate_release(s);
            return -1;
        }
        b->n = (int)get_u(p, "n");
        get_str(p, "provider", prov, sizeof(prov));
        b->dialect = strcmp(prov, "anthropic") == 0;
        get_str(p, "state", st, sizeof(st));
        b->state = -1;
        for (int k = BP_INTENT; k <= BP_CLOSED; k++)
            if (strcmp(st, state_names[k]) == 0)
                b->state = k;
        get_str(p, "model", b->model, sizeof(b->model));
        get_str(p, "endpoint", b->endpoint, sizeof(b->endpoint));
        get_str(p, "key", b->key, sizeof(b->key));
        b->jobs = get_u(p, "jobs");
        b->tokens = get_u(p, "tokens");
        b->reserve = (money_t)get_u(p, "reserve_pusd");
        get_str(p, "file_id", b->file_id, sizeof(b->file_id));
        get_str(p, "batch_id", b->batch_id, sizeof(b->batch_id));
        b->intent_at = (int64_t)get_u(p, "intent_at");
        get_str(p, "phase", b->phase, sizeof(b->phase));
        b->total = get_u(p, "total");
        b->done = get_u(p, "done");
        b->failed = get_u(p, "failed");
        b->rows_ok = get_u(p, "rows_ok");
        b->rows_failed = get_u(p, "rows_failed");
        b->rows_back = get_u(p, "rows_back");
        b->cost = (money_t)get_u(p, "cost_pusd");
        get_str(p, "created_at", b->created_at, sizeof(b->created_at));
        get_str(p, "ended_at", b->ended_at, sizeof(b->ended_at));
        get_str(p, "note", b->note, sizeof(b->note));
        if (b->state < 0 || b->n <= 0 || b->n > np) {
            snprintf(err, errlen, "%s: part %zu is damaged", path, i + 1);
            json_decref(root);
            bstate_release(s);
            return -1;
        }
    }
    s->next_part = np;
    json_decref(root);
    return 1;
}

json_t *bpart_json(const bpart_t *b)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:I,s:s,s:I,s:I,s:I,"
                     "s:I,s:I,s:I,s:I,s:s,s:s,s:s}",
                     "n", b->n, "provider", b->dialect ? "anthropic" : "openai",
                     "model", b->model, "endpoint", b->endpoint, "key", b->key,
                     "jobs", (json_int_t)b->jobs, "tokens", (json_int_t)b->tokens,
                     "reserve_pusd", (json_int_t)b->reserve,
                     "state", bpart_state_name(b->state), "file_id", b->file_id,
                     "batch_id", b->batch_id, "intent_at", (json_int_t)b->intent_at,
                     "phase", b->phase, "total", (json_int_t)b->total,
                     "done", (json_int_t)b->done, "failed", (json_int_t)b->failed,
                     "rows_ok", (json_int_t)b->rows_ok,
                     "rows_failed", (json_int_t)b->rows_failed,
                     "rows_back", (json_int_t)b->rows_back,
                     "cost_pusd", (json_int_t)b->cost, "created_at", b->created_at,
                     "ended_at", b->ended_at, "note", b->note);
}

int bstate_save(const char *path, const bstate_t *s)
{
    json_t *root = json_pack("{s:i,s:s,s:i,s:[]}", "version", 1, "run", s->run,
                             "next_part", s->next_part, "parts");
    json_t *parts = root ? json_object_get(root, "parts") : NULL;
    char *text = NULL;
    int rc = -1;

    if (!parts)
        goto out;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].state >= BP_INTENT && json_array_append_new(parts, bpart_json(&s->v[i])))
            goto out;
    if (!(text = json_dumps(root, JSON_INDENT(1))))
        goto out;
    rc = write_file_atomic(path, text, strlen(text));
out:
    free(text);
    json_decref(root);
    return rc;
}
