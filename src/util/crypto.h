/*
 * crypto.h - hashing, base64 and randomness (OpenSSL's libcrypto stays in
 * crypto.c).
 */
#ifndef TY_UTIL_CRYPTO_H
#define TY_UTIL_CRYPTO_H

#include <stddef.h>

#define TY_SHA256_LEN 32

void ty_sha256(unsigned char out[TY_SHA256_LEN], const void *data, size_t len);
/* Writes 64 lowercase hex digits + NUL. */
void ty_sha256_hex(char out[65], const void *data, size_t len);
/* HMAC-SHA256 of data under key, as 64 hex digits + NUL. */
void ty_hmac_sha256_hex(char out[65], const void *key, size_t keylen, const void *data,
                        size_t len);
/* Standard base64 (RFC 4648, with padding) of data: a new NUL-terminated
 * string the caller frees. */
char *ty_base64(const void *data, size_t len);
/* Fills buf with cryptographically random bytes; aborts if the system cannot. */
void ty_random_bytes(void *buf, size_t n);
/* A new random id of 32 lowercase hex digits (128 bits) + NUL: Tycho's GUID form. */
void ty_guid_new(char out[33]);

#endif
