// Argument readers and error helpers shared by the addon's parts (args.h).
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "args.h"

napi_value fail(napi_env env, int range, const char *msg) {
  if (range) napi_throw_range_error(env, "ERR_INSEL_NATIVE_RANGE", msg);
  else napi_throw_type_error(env, "ERR_INSEL_NATIVE_TYPE", msg);
  return NULL;
}

napi_value fail_errno(napi_env env, int err, const char *syscall, const char *msg) {
  char text[256];
  napi_value code, message, error, n, sc;
  // libuv's error codes are -errno on Unix: its table names them for us.
  const char *name = uv_err_name(-err);
  snprintf(text, sizeof text, "%s: %s (%s)", msg, strerror(err), name);
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok || napi_create_int32(env, err, &n) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) != napi_ok)
    return NULL;
  napi_set_named_property(env, error, "errno", n);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

napi_value number(napi_env env, double d) {
  napi_value out;
  CALL(env, napi_create_double(env, d, &out));
  return out;
}

int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return fail(env, 0, what), 0;
  if (napi_get_buffer_info(env, v, (void **)data, len) != napi_ok) return 0;
  if (*len > INT_MAX) return fail(env, 1, "buffer longer than INT_MAX"), 0; // EVP lengths are int
  return 1;
}

int get_u32(napi_env env, napi_value v, uint32_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return fail(env, 0, what), 0;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return fail(env, 1, what), 0;
  *out = (uint32_t)d;
  return 1;
}

int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return fail(env, 0, what), 0;
  if (len >= size) return fail(env, 1, what), 0; // never truncate silently
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok;
}

int get_bool(napi_env env, napi_value v, bool *out, const char *what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) return fail(env, 0, what), 0;
  return 1;
}

int get_prop(napi_env env, napi_value obj, const char *name, napi_value *out, int *present) {
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return fail(env, 0, "options must be an object"), 0;
  if (napi_get_named_property(env, obj, name, out) != napi_ok || napi_typeof(env, *out, &t) != napi_ok) return 0;
  *present = t != napi_undefined && t != napi_null;
  return 1;
}
