/*
 * fuzz_redis_url: redis_url_parse and redis_url_mask on the input as one
 * NUL-terminated string.
 *
 * Invariants: parse returns 0 or -1 and always leaves a message on -1; on
 * success the port is 1..65535, the db >= 0, and a unix socket path is
 * absolute; a password that occurs once in the input appears neither in
 * the error message of a failed parse nor in the masked URL.
 */
#include "fuzz_util.h"

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, err[512], masked[1024];
    redis_url_t u;
    int rc;

    if (size > 4096)
        return 0;
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    err[0] = 0;
    rc = redis_url_parse(s, &u, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc) {
        FUZZ_CHECK(err[0] != 0);
    } else {
        FUZZ_CHECK(u.is_unix ? u.path[0] == '/' : u.port >= 1 && u.port <= 65535);
        FUZZ_CHECK(u.db >= 0);
    }
    redis_url_mask(s, masked, sizeof(masked));
    if (rc == 0 && u.has_pass && strlen(u.pass) >= 4 && strlen(s) < sizeof(masked) - 8) {
        const char *first = strstr(s, u.pass);
        /* a literal (unescaped) password that occurs once */
        if (first && !strstr(first + 1, u.pass))
            FUZZ_CHECK(!strstr(masked, u.pass));
    }
    free(s);
    return 0;
}
