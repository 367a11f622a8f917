/* batch_state: the durable record of --via batch parts survives a save and
 * a load unchanged; only submitted-or-later parts are written; a damaged
 * file is refused with a message naming it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "batch_state.h"
#include "tap.h"

int main(void)
{
    char path[] = "/tmp/llmb-bstate-XXXXXX", err[512];
    bstate_t s = { 0 }, t;
    bpart_t *p;
    FILE *f;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    close(fd);
    snprintf(s.run, sizeof(s.run), "00ff00ff00ff00ff");
    p = bstate_add(&s);
    CHECK(p && p->n == 1);
    p->state = BP_SUBMITTED;
    p->dialect = 1;
    snprintf(p->model, sizeof(p->model), "claude-sonnet-4");
    snprintf(p->endpoint, sizeof(p->endpoint), "/v1/messages");
    snprintf(p->batch_id, sizeof(p->batch_id), "msgbatch_1");
    snprintf(p->key, sizeof(p->key), "...abcd");
    p->jobs = 7;
    p->tokens = 300;
    p->reserve = 123456789012LL;
    p->intent_at = 1700000000;
    p = bstate_add(&s);                 /* planned only: never written */
    p->state = BP_PLANNED;
    p = bstate_add(&s);
    p->state = BP_INTENT;
    snprintf(p->file_id, sizeof(p->file_id), "file-9");
    CHECK(bstate_save(path, &s) == 0);

    CHECK(bstate_load(path, &t, err, sizeof(err)) == 1);
    CHECK_STR(t.run, "00ff00ff00ff00ff");
    CHECK_INT(t.next_part, 3);
    CHECK_INT(t.n, 2);
    CHECK_INT(t.v[0].n, 1);
    CHECK_INT(t.v[0].state, BP_SUBMITTED);
    CHECK_INT(t.v[0].dialect, 1);
    CHECK_STR(t.v[0].batch_id, "msgbatch_1");
    CHECK_STR(t.v[0].key, "...abcd");
    CHECK_INT(t.v[0].jobs, 7);
    CHECK_INT(t.v[0].tokens, 300);
    CHECK_INT(t.v[0].reserve, 123456789012LL);
    CHECK_INT(t.v[0].intent_at, 1700000000);
    CHECK_INT(t.v[1].n, 3);
    CHECK_INT(t.v[1].state, BP_INTENT);
    CHECK_STR(t.v[1].file_id, "file-9");
    /* a new part after a load gets the next number, never a reused one */
    p = bstate_add(&t);
    CHECK(p && p->n == 4);
    bstate_release(&t);

    f = fopen(path, "w");
    fputs("{\"version\":1,\"run\":\"x\",\"next_part\":1,\"parts\":[{\"n\":5,\"state\":\"intent\"}]}", f);
    fclose(f);
    CHECK(bstate_load(path, &t, err, sizeof(err)) == -1);
    CHECK(strstr(err, path) != NULL);
    f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    CHECK(bstate_load(path, &t, err, sizeof(err)) == -1);
    unlink(path);
    CHECK(bstate_load(path, &t, err, sizeof(err)) == 0);
    bstate_release(&s);
    return tap_done();
}
