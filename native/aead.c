// AEAD sealing and opening of datagrams in place, with cipher contexts that
// live as long as an epoch's keys.
//
// Why native: node:crypto cannot reuse a cipher context with a new nonce, so
// every datagram paid createCipheriv (2-3 µs) plus the seal itself; that
// alone held UDP channels at 0.33-0.47x raw UDP (ARCHITECTURE.md "native/").
// Here the key schedule runs once per epoch and direction; per packet only the
// nonce is set. The OpenSSL is the one Node itself exports (no -lcrypto).
//
// Wire format (docs/PROTOCOL.md, same bytes as the node:crypto version):
//   private:   AAD = buf[0, headerLen), buf[headerLen, end) encrypted, tag at end
//   integrity: AAD = buf[0, end), nothing encrypted, tag at end
//   nonce = iv XOR (0^4 || counter_be64), as TLS 1.3 §5.3
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "addon.h"
#include "aead.h"
#include "args.h"

#define MAX_COUNTER 9007199254740991.0 // 2^53 - 1: a JS number stays exact

// Tells our externals from anyone else's, so a foreign pointer is never cast.
static const napi_type_tag AEAD_TAG = {0x696e73656c616561ULL, 0x6164636f6e746578ULL};

const EVP_CIPHER *aead_cipher(const char *name) {
  return strcmp(name, "aes-256-gcm") == 0         ? EVP_aes_256_gcm()
         : strcmp(name, "chacha20-poly1305") == 0 ? EVP_chacha20_poly1305()
                                                  : NULL;
}

int aead_init(aead_t *a, const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *iv, int encrypt, int integrity) {
  memcpy(a->iv, iv, AEAD_NONCE_SIZE);
  a->encrypt = encrypt;
  a->integrity = integrity;
  a->ctx = EVP_CIPHER_CTX_new();
  // The key schedule, once per epoch; the nonce comes with each packet.
  if (a->ctx == NULL || EVP_CipherInit_ex(a->ctx, cipher, NULL, key, NULL, encrypt) != 1) {
    aead_release(a);
    return 0;
  }
  return 1;
}

void aead_release(aead_t *a) {
  if (a->ctx != NULL) EVP_CIPHER_CTX_free(a->ctx); // frees the key schedule cleansed
  a->ctx = NULL;
  OPENSSL_cleanse(a->iv, sizeof a->iv);
}

// Starts one packet: only the nonce changes, the key schedule is kept.
static int set_nonce(aead_t *a, uint64_t counter) {
  uint8_t nonce[AEAD_NONCE_SIZE];
  memcpy(nonce, a->iv, AEAD_NONCE_SIZE);
  for (int i = 0; i < 8; i++) nonce[AEAD_NONCE_SIZE - 1 - i] ^= (uint8_t)(counter >> (8 * i));
  return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, a->encrypt) == 1;
}

int aead_seal(aead_t *a, uint8_t *buf, size_t head, size_t end, uint64_t counter) {
  int n;
  size_t aad = a->integrity ? end : head;
  return set_nonce(a, counter) && (aad == 0 || EVP_EncryptUpdate(a->ctx, NULL, &n, buf, (int)aad) == 1) &&
         (a->integrity || end == head || EVP_EncryptUpdate(a->ctx, buf + head, &n, buf + head, (int)(end - head)) == 1) &&
         EVP_EncryptFinal_ex(a->ctx, buf + end, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_SIZE, buf + end) == 1;
}

long aead_open(aead_t *a, uint8_t *buf, size_t len, size_t head, uint64_t counter) {
  int n;
  if (len < AEAD_TAG_SIZE || head > len - AEAD_TAG_SIZE) return -1; // a short datagram is the peer's, not a bug
  size_t end = len - AEAD_TAG_SIZE, aad = a->integrity ? end : head;
  int ok = set_nonce(a, counter) && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_SIZE, buf + end) == 1 &&
           (aad == 0 || EVP_DecryptUpdate(a->ctx, NULL, &n, buf, (int)aad) == 1) &&
           (a->integrity || end == head || EVP_DecryptUpdate(a->ctx, buf + head, &n, buf + head, (int)(end - head)) == 1) &&
           EVP_DecryptFinal_ex(a->ctx, buf + end, &n) == 1;
  if (ok) return (long)(end - head);
  // Decryption ran before the tag was checked: wipe the unauthentic plaintext.
  if (!a->integrity) OPENSSL_cleanse(buf + head, end - head);
  return -1;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  aead_release(data);
  OPENSSL_free(data);
}

static int get_index(napi_env env, napi_value v, size_t max, size_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fail(env, 0, what), 0;
  if (!(d >= 0 && d <= (double)max) || d != (double)(size_t)d) return fail(env, 1, what), 0;
  *out = (size_t)d;
  return 1;
}

static int get_counter(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fail(env, 0, "counter must be a number"), 0;
  if (!(d >= 0 && d <= MAX_COUNTER) || d != (double)(uint64_t)d) return fail(env, 1, "counter must be an integer in [0, 2^53)"), 0;
  *out = (uint64_t)d;
  return 1;
}

static aead_t *get_aead(napi_env env, napi_value v, int live) {
  napi_valuetype t;
  bool ours = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &AEAD_TAG, &ours) != napi_ok || !ours)
    return fail(env, 0, "not an AEAD context from create()"), NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  aead_t *a = data;
  if (live && a->ctx == NULL) return fail(env, 0, "AEAD context already freed"), NULL;
  return a;
}

// create(aead: "aes-256-gcm" | "chacha20-poly1305", key, iv, encrypt, integrity)
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], out;
  char name[32];
  size_t nlen, klen, ivlen;
  uint8_t *key, *iv;
  bool encrypt, integrity;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return fail(env, 0, "create(aead, key, iv, encrypt, integrity)");
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok) return fail(env, 0, "aead must be a string");
  const EVP_CIPHER *cipher = aead_cipher(name);
  if (cipher == NULL) return fail(env, 1, "aead must be aes-256-gcm or chacha20-poly1305");
  if (!get_buffer(env, argv[1], &key, &klen, "key must be a Buffer")) return NULL;
  if (!get_buffer(env, argv[2], &iv, &ivlen, "iv must be a Buffer")) return NULL;
  if (klen != AEAD_KEY_SIZE || ivlen != AEAD_NONCE_SIZE) return fail(env, 1, "key must be 32 bytes and iv 12");
  if (napi_get_value_bool(env, argv[3], &encrypt) != napi_ok || napi_get_value_bool(env, argv[4], &integrity) != napi_ok)
    return fail(env, 0, "encrypt and integrity must be booleans");

  aead_t *a = OPENSSL_zalloc(sizeof *a);
  if (a == NULL) return fail(env, 1, "out of memory");
  if (!aead_init(a, cipher, key, iv, encrypt, integrity)) {
    finalize(env, a, NULL);
    return fail(env, 1, "OpenSSL refused the AEAD key");
  }
  if (napi_create_external(env, a, finalize, NULL, &out) != napi_ok) {
    finalize(env, a, NULL);
    return NULL;
  }
  CALL(env, napi_type_tag_object(env, out, &AEAD_TAG));
  return out;
}

static napi_value free_aead(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_t *a = get_aead(env, argv[0], 0); // undefined if missing; freeing twice is harmless
  if (a == NULL) return NULL;
  aead_release(a);
  return NULL;
}

// What seal and open share: ctx, buf, their indices, counter (last).
typedef struct {
  napi_value argv[5];
  aead_t *a;
  uint8_t *buf;
  size_t len;
  uint64_t counter;
} call_t;

static int get_call(napi_env env, napi_callback_info info, size_t want, int encrypt, const char *usage, call_t *c) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, c->argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) return fail(env, 0, usage), 0;
  if ((c->a = get_aead(env, c->argv[0], 1)) == NULL) return 0;
  if (c->a->encrypt != encrypt) return fail(env, 0, encrypt ? "seal() needs an encryption context" : "open() needs a decryption context"), 0;
  return get_buffer(env, c->argv[1], &c->buf, &c->len, "buf must be a Buffer") && get_counter(env, c->argv[want - 1], &c->counter);
}

// seal(ctx, buf, headerLen, end, counter) -> end + TAG_SIZE
static napi_value seal(napi_env env, napi_callback_info info) {
  call_t c;
  size_t head, end;
  if (!get_call(env, info, 5, 1, "seal(ctx, buf, headerLen, end, counter)", &c)) return NULL;
  if (c.len < AEAD_TAG_SIZE) return fail(env, 1, "buf shorter than a tag");
  if (!get_index(env, c.argv[3], c.len - AEAD_TAG_SIZE, &end, "end must leave room for the tag") ||
      !get_index(env, c.argv[2], end, &head, "headerLen must be in [0, end]"))
    return NULL;
  if (!aead_seal(c.a, c.buf, head, end, c.counter)) return fail(env, 1, "OpenSSL failed to seal");
  return number(env, (double)(end + AEAD_TAG_SIZE));
}

// open(ctx, buf, headerLen, counter) -> plaintext length, or -1 if forged or short
static napi_value open_aead(napi_env env, napi_callback_info info) {
  call_t c;
  size_t head;
  if (!get_call(env, info, 4, 0, "open(ctx, buf, headerLen, counter)", &c)) return NULL;
  if (!get_index(env, c.argv[2], INT_MAX, &head, "headerLen must be a non-negative integer")) return NULL;
  return number(env, (double)aead_open(c.a, c.buf, c.len, head, c.counter));
}

napi_status aead_register(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"aeadCreate", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadFree", NULL, free_aead, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadSeal", NULL, seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpen", NULL, open_aead, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
}
