/* Unit tests for runner/pool: the receive buffer shrinks with concurrency
 * so that their total stays bounded, and never below its floor. */
#include "tap.h"
#include "pool.h"

int main(void)
{
    CHECK_INT(pool_recv_buffer(64), 0);            /* libcurl's 16 KiB */
    CHECK_INT(pool_recv_buffer(256), 0);
    CHECK_INT(pool_recv_buffer(512), 8192);
    CHECK_INT(pool_recv_buffer(1024), 4096);
    CHECK_INT(pool_recv_buffer(4096), 1024);
    CHECK_INT(pool_recv_buffer(16384), POOL_RECV_BUFFER_MIN);
    CHECK_INT(pool_recv_buffer(0), 0);
    for (long c = 513; c <= 16384; c += 97)
        CHECK(pool_recv_buffer(c) * c <= POOL_RECV_BUFFERS_TOTAL ||
              pool_recv_buffer(c) == POOL_RECV_BUFFER_MIN);
    return tap_done();
}
