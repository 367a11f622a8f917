/*
 * test_sha256: FIPS 180-4 / NIST test vectors, plus the streaming API fed in
 * odd-sized pieces (must equal the one-shot digest).
 */
#include "sha256.h"
#include "tap.h"
#include <stdlib.h>

static void hex_of(const void *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LEN];
    sha256(p, n, d);
    sha256_hex(d, out);
}

int main(void)
{
    static const struct { const char *in; const char *hex; } vec[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
          "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
        /* 55, 56, 63, 64 bytes: the padding edge cases */
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
    };
    char hex[65];
    size_t i;

    for (i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        hex_of(vec[i].in, strlen(vec[i].in), hex);
        CHECK_STR(hex, vec[i].hex);
    }

    /* one million 'a', fed in uneven chunks through the streaming API */
    {
        const size_t total = 1000000;
        char *m = malloc(total);
        sha256_ctx_t c;
        unsigned char d[SHA256_DIGEST_LEN];
        size_t off = 0, step = 1;

        CHECK(m != NULL);
        if (m) {
            memset(m, 'a', total);
            hex_of(m, total, hex);
            CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
            sha256_init(&c);
            while (off < total) {
                size_t n = step < total - off ? step : total - off;
                sha256_update(&c, m + off, n);
                off += n;
                step = step * 7 % 191 + 1;
            }
            sha256_final(&c, d);
            sha256_hex(d, hex);
            CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
            free(m);
        }
    }

    /* zero-length updates change nothing */
    {
        sha256_ctx_t c;
        unsigned char d[SHA256_DIGEST_LEN];
        sha256_init(&c);
        sha256_update(&c, "ab", 2);
        sha256_update(&c, "", 0);
        sha256_update(&c, "c", 1);
        sha256_final(&c, d);
        sha256_hex(d, hex);
        CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    return tap_done();
}
