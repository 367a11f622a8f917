/* Unit tests for formats/redis_url: defaults, userinfo, IPv6, unix sockets,
 * the TLS refusal, garbage, and that no message ever shows the password. */
#include "tap.h"
#include "redis_url.h"

static void test_defaults(void)
{
    redis_url_t u;
    char err[512];

    CHECK_INT(redis_url_parse("redis://", &u, err, sizeof(err)), 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 6379);
    CHECK_INT(u.db, 0);
    CHECK_INT(u.has_pass, 0);
    CHECK_INT(redis_url_parse("redis://cache.internal", &u, err, sizeof(err)), 0);
    CHECK_STR(u.host, "cache.internal");
    CHECK_INT(u.port, 6379);
    CHECK_INT(redis_url_parse("redis://10.0.0.5:6380/3", &u, err, sizeof(err)), 0);
    CHECK_STR(u.host, "10.0.0.5");
    CHECK_INT(u.port, 6380);
    CHECK_INT(u.db, 3);
    CHECK_INT(redis_url_parse("redis://h:7000/", &u, err, sizeof(err)), 0);
    CHECK_INT(u.db, 0);
    CHECK_INT(redis_url_parse("redis://[::1]:6390/1", &u, err, sizeof(err)), 0);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 6390);
    CHECK_INT(u.db, 1);
}

static void test_userinfo(void)
{
    redis_url_t u;
    char err[512];

    CHECK_INT(redis_url_parse("redis://alice:s3cr%40t@h:1/2", &u, err, sizeof(err)), 0);
    CHECK_STR(u.user, "alice");
    CHECK_STR(u.pass, "s3cr@t");
    CHECK_INT(u.has_pass, 1);
    CHECK_INT(redis_url_parse("redis://:onlypass@h", &u, err, sizeof(err)), 0);
    CHECK_STR(u.user, "");
    CHECK_STR(u.pass, "onlypass");
    CHECK_INT(redis_url_parse("redis://barepass@h", &u, err, sizeof(err)), 0);
    CHECK_STR(u.pass, "barepass");
    /* an '@' inside the password, unescaped: the last '@' ends the userinfo */
    CHECK_INT(redis_url_parse("redis://u:p@ss@h:5", &u, err, sizeof(err)), 0);
    CHECK_STR(u.pass, "p@ss");
    CHECK_STR(u.host, "h");
}

static void test_unix(void)
{
    redis_url_t u;
    char err[512], d[300];

    CHECK_INT(redis_url_parse("unix:///run/redis/redis.sock", &u, err, sizeof(err)), 0);
    CHECK_INT(u.is_unix, 1);
    CHECK_STR(u.path, "/run/redis/redis.sock");
    CHECK_INT(redis_url_parse("unix:///tmp/r.sock?db=4", &u, err, sizeof(err)), 0);
    CHECK_INT(u.db, 4);
    redis_url_describe(&u, d, sizeof(d));
    CHECK_STR(d, "unix:/tmp/r.sock/4");
    CHECK_INT(redis_url_parse("unix://relative.sock", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "absolute path") != NULL);
    CHECK_INT(redis_url_parse("unix:///tmp/r.sock?foo=1", &u, err, sizeof(err)), -1);
}

static void test_refusals(void)
{
    static const char *bad[][2] = {
        {"", "empty"},
        {"http://h:6379", "unknown scheme"},
        {"localhost:6379", "unknown scheme"},
        {"redis://h:notaport", "port"},
        {"redis://h:0", "port"},
        {"redis://h:65536", "port"},
        {"redis://h:6379/abc", "database number"},
        {"redis://h:6379/-1", "database number"},
        {"redis://h o st", "spaces"},
        {"redis://[::1", "IPv6"},
        {"redis://[::1]x", "junk"},
        {"redis://ho$t", "bad character"},
        {"redis://u:%zz@h", "percent-escape"},
    };
    redis_url_t u;
    char err[512];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(redis_url_parse(bad[i][0], &u, err, sizeof(err)), -1);
        if (!strstr(err, bad[i][1]))
            fprintf(stderr, "  for '%s': %s\n", bad[i][0], err);
        CHECK(strstr(err, bad[i][1]) != NULL);
    }
    CHECK_INT(redis_url_parse("rediss://u:topsecret@h:6380/0", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hiredis >= 1.0") != NULL);
    CHECK(strstr(err, "stunnel") != NULL);
    CHECK(strstr(err, "topsecret") == NULL);
    CHECK(strstr(err, "rediss://u:***@h:6380/0") != NULL);
}

static void test_mask(void)
{
    static const char *cases[][2] = {
        {"redis://alice:hunter2@h:1/0", "redis://alice:***@h:1/0"},
        {"redis://:hunter2@h", "redis://:***@h"},
        {"redis://hunter2@h", "redis://***@h"},
        {"redis://u:p@ss@h/0", "redis://u:***@h/0"},
        {"redis://h:1/0", "redis://h:1/0"},
        {"gopher://x:hunter2@h:zz", "gopher://x:***@h:zz"},
        {"x:hunter2@h", "x:***@h"},
        /* slips: an unescaped '/', '?' or '#' in the password */
        {"redis://:hun/ter2@h", "redis://:***@h"},
        {"redis://bob:hun/ter2@h:1/0", "redis://bob:***@h:1/0"},
        {"redis://bob:h?un#ter2@h", "redis://bob:***@h"},
        {"redis://hun/ter2@h", "redis://***@h"},
        /* a ':' after the authority is no user name */
        {"redis://h/0?x=hun:ter2@h2", "redis://***@h2"},
        /* a password in a query, as some clients take it */
        {"redis://h:1/0?password=hunter2", "redis://h:1/0?password=***"},
        {"redis://h/0?db=2&password=hunter2&x", "redis://h/0?db=2&password=***&***"},
        /* a bare query item, a fragment */
        {"redis://h?hunter2", "redis://h?***"},
        {"redis://h/0#password=hunter2", "redis://h/0#***"},
        /* the '@host' forgotten: a port that is not a number is hidden */
        {"redis://default:hunter2", "redis://default:***"},
        {"redis://:hunter2", "redis://:***"},
        {"redis://h:6379/0", "redis://h:6379/0"},
        {"redis://[::1]:6379", "redis://[::1]:6379"},
        {"redis://[::1]:hunter2/0", "redis://[::1]:***/0"},
        /* "://" after the secret is no scheme */
        {"user:hunter2@redis://host", "user:***@redis://host"},
        {"hunter2@redis://host", "***@redis://host"},
        {"unix:///tmp/r.sock?db=3", "unix:///tmp/r.sock?db=3"},
        {"", ""},
    };
    redis_url_t u;
    char m[256], err[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redis_url_mask(cases[i][0], m, sizeof(m));
        CHECK_STR(m, cases[i][1]);
    }
    /* garbage that carries a password: the refusal masks it */
    CHECK_INT(redis_url_parse("redis://bob:hunter2@h:badport", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, "bob:***@") != NULL);
    CHECK_INT(redis_url_parse("redis://bob:hunter2@h o", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    /* the slips above fail to parse, and their messages hide the password */
    CHECK_INT(redis_url_parse("redis://:hun/ter2@h", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "ter2") == NULL);
    CHECK_INT(redis_url_parse("redis://h:1/0?password=hunter2", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_INT(redis_url_parse("user:hunter2@redis://host", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_INT(redis_url_parse("redis://default:hunter2", &u, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    /* truncation never writes past the buffer */
    redis_url_mask("redis://bob:hunter2@h", m, 12);
    CHECK_STR(m, "redis://bob");
}

int main(void)
{
    test_defaults();
    test_userinfo();
    test_unix();
    test_refusals();
    test_mask();
    return tap_done();
}
