/* Unit tests for runner/paths, runner/lock, runner/promtext and the
 * checkpoint checksum: path resolution through symlinks and "..", role
 * collisions by name and by inode, the lock refusing a second holder, label
 * escaping, and a checkpoint that refuses any changed byte. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"
#include "buf.h"
#include "checkpoint.h"
#include "lock.h"
#include "paths.h"
#include "promtext.h"

static char dir[] = "/tmp/llmb-test-guards-XXXXXX";

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("x\n", f);
        fclose(f);
    }
}

static void test_resolve(void)
{
    char a[4200], b[4200], p[4200], q[4200];

    snprintf(p, sizeof(p), "%s/sub", dir);
    CHECK_INT(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sub/../file", dir);
    snprintf(q, sizeof(q), "%s/file", dir);
    CHECK_INT(paths_resolve(p, a, sizeof(a)), 0);
    CHECK_INT(paths_resolve(q, b, sizeof(b)), 0);
    CHECK_STR(a, b);                               /* "..", file missing */
    snprintf(p, sizeof(p), "%s/dangling", dir);
    CHECK_INT(symlink("target", p), 0);
    snprintf(q, sizeof(q), "%s/target", dir);
    CHECK_INT(paths_resolve(p, a, sizeof(a)), 0);
    CHECK_INT(paths_resolve(q, b, sizeof(b)), 0);
    CHECK_STR(a, b);                               /* dangling symlink followed */
    snprintf(p, sizeof(p), "%s/nodir/x", dir);
    CHECK(paths_resolve(p, a, sizeof(a)) != 0);
}

static void test_collisions(void)
{
    char f1[4200], f2[4200], f3[4200], err[1024];
    path_role_t v[3];

    snprintf(f1, sizeof(f1), "%s/one", dir);
    snprintf(f2, sizeof(f2), "%s/hard", dir);
    snprintf(f3, sizeof(f3), "%s/three", dir);
    touch(f1);
    CHECK_INT(link(f1, f2), 0);
    v[0] = (path_role_t){ "the results file", f1, 1 };
    v[1] = (path_role_t){ "--metrics", f3, 1 };
    v[2] = (path_role_t){ "--status-file", f2, 1 };
    CHECK_INT(paths_check(v, 3, err, sizeof(err)), -1);
    CHECK(strstr(err, "--status-file") && strstr(err, "the results file"));
    v[2].path = NULL;                              /* unused role */
    CHECK_INT(paths_check(v, 3, err, sizeof(err)), 0);
    v[1].path = dir;                               /* a directory */
    CHECK_INT(paths_check(v, 3, err, sizeof(err)), -1);
    CHECK(strstr(err, "is a directory") != NULL);
}

static void test_lock(void)
{
    char path[4200], err[1024];
    run_lock_t a = RUN_LOCK_INIT, b = RUN_LOCK_INIT;
    char pid[32];

    snprintf(path, sizeof(path), "%s/x.ckpt.lock", dir);
    CHECK_INT(run_lock_acquire(&a, path, err, sizeof(err)), 0);
    /* a second open file description is refused (as another process is) */
    CHECK_INT(run_lock_acquire(&b, path, err, sizeof(err)), 1);
    snprintf(pid, sizeof(pid), "pid %ld ", (long)getpid());
    CHECK(strstr(err, pid) != NULL);
    CHECK_INT(b.fd, -1);
    run_lock_release(&a);
    CHECK(access(path, F_OK) != 0);                /* removed on release */
    CHECK_INT(run_lock_acquire(&b, path, err, sizeof(err)), 0);
    run_lock_release(&b);
}

static void test_prom(void)
{
    buf_t b = BUF_INIT;

    CHECK_INT(prom_label_value(&b, "a\"b\\c\nd"), 0);
    CHECK_INT(buf_putc(&b, '\0'), 0);
    CHECK_STR(b.data, "a\\\"b\\\\c\\nd");
    buf_release(&b);
}

static void test_checkpoint_sum(void)
{
    char path[4200], err[1024];
    ckpt_t c, d;
    FILE *f;
    long n;
    char *text;

    snprintf(path, sizeof(path), "%s/sum.ckpt", dir);
    ckpt_init(&c);
    CHECK_INT(ckpt_resize(&c, 100), 0);
    for (int i = 0; i < 70; i++)
        ckpt_mark(&c, (uint64_t)i);
    c.results_size = 1234;
    CHECK_INT(ckpt_save(path, &c, NULL), 0);
    CHECK_INT(ckpt_load(path, &d, NULL, err, sizeof(err)), 1);
    CHECK_INT(ckpt_count_done(&d), 70);
    CHECK_INT(d.results_size, 1234);
    CHECK_INT(d.legacy, 0);
    ckpt_release(&d);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = malloc((size_t)n);
    CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    /* every single-byte change is refused */
    for (long i = 0; i < n; i++) {
        char saved = text[i];
        text[i] = saved == '7' ? '8' : '7';
        f = fopen(path, "wb");
        fwrite(text, 1, (size_t)n, f);
        fclose(f);
        if (ckpt_load(path, &d, NULL, err, sizeof(err)) != -1) {
            CHECK(!"a changed byte was accepted");
            fprintf(stderr, "  at offset %ld\n", i);
            ckpt_release(&d);
            break;
        }
        text[i] = saved;
    }
    tap_pass++;
    free(text);
    ckpt_release(&c);
}

int main(void)
{
    char cmd[200];

    if (!mkdtemp(dir))
        return 1;
    test_resolve();
    test_collisions();
    test_lock();
    test_prom();
    test_checkpoint_sum();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
