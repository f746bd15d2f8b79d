#ifndef PLANVAULT_CLIBCRYPTO_SHIM_H
#define PLANVAULT_CLIBCRYPTO_SHIM_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/crypto.h>

// OPENSSL_free and friends are macros; Swift cannot call them directly.
static inline void planvault_openssl_free(void *ptr) { OPENSSL_free(ptr); }
static inline void planvault_cleanse(void *ptr, size_t len) { OPENSSL_cleanse(ptr, len); }

#endif
