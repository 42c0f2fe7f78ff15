/*
 * crypto.c - SHA-256, HMAC and random bytes on top of libcrypto (see crypto.h).
 */
#include "util/crypto.h"
#include "util/mem.h"
#include "util/str.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void ty_sha256(unsigned char out[TY_SHA256_LEN], const void *data, size_t len)
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void ty_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char d[TY_SHA256_LEN];
    ty_sha256(d, data, len);
    ty_hex_encode(out, d, sizeof(d));
}

void ty_hmac_sha256_hex(char out[65], const void *key, size_t keylen, const void *data,
                        size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)keylen, data, len, d, &n);
    ty_hex_encode(out, d, n);
}

void ty_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0) {
            if (RAND_bytes(p, (int)n) == 1)
                return;
            fprintf(stderr, "tycho: no source of random bytes\n");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

void ty_guid_new(char out[33])
{
    unsigned char b[16];
    ty_random_bytes(b, sizeof(b));
    ty_hex_encode(out, b, sizeof(b));
}

char *ty_base64(const void *data, size_t len)
{
    char *out = ty_xmalloc(4 * ((len + 2) / 3) + 1);
    /* EVP_EncodeBlock writes no line breaks and NUL-terminates. */
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}
