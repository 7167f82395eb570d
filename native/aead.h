// AEAD over a datagram in place, one cipher context per epoch key and
// direction (aead.c). Used by the JS-facing aead* functions and by the plane.
#ifndef INSEL_AEAD_H
#define INSEL_AEAD_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define AEAD_KEY_SIZE 32
#define AEAD_NONCE_SIZE 12
#define AEAD_TAG_SIZE 16

typedef struct {
  EVP_CIPHER_CTX *ctx; // NULL when no key is set
  uint8_t iv[AEAD_NONCE_SIZE];
  int encrypt;
  int integrity;
} aead_t;

// "aes-256-gcm" or "chacha20-poly1305"; NULL for anything else.
const EVP_CIPHER *aead_cipher(const char *name);
// Runs the key schedule once; 1 on success. `a` must be zeroed or released.
int aead_init(aead_t *a, const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *iv, int encrypt, int integrity);
// Frees the context and wipes the iv; harmless twice.
void aead_release(aead_t *a);
// Seals buf[head, end) (AAD buf[0, head); integrity: buf[0, end)), tag at
// buf[end, end + 16). 1 on success.
int aead_seal(aead_t *a, uint8_t *buf, size_t head, size_t end, uint64_t counter);
// Opens buf[0, len) in place: the plaintext length after head, or -1 if
// forged or too short (the unauthentic plaintext is wiped).
long aead_open(aead_t *a, uint8_t *buf, size_t len, size_t head, uint64_t counter);

#endif
