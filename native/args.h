// Argument readers and error helpers shared by the addon's parts. Each reader
// throws the matching JS error and returns 0 on misuse, so a caller only
// returns NULL (a JS exception is then pending).
#ifndef INSEL_ARGS_H
#define INSEL_ARGS_H
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#define CALL(env, call) \
  do { if ((call) != napi_ok) return NULL; } while (0) // a JS exception is pending

// Throws a TypeError (range = 0) or RangeError; returns NULL for `return fail(...)`.
napi_value fail(napi_env env, int range, const char *msg);
// Throws an Error with code = the errno's name (ENOENT, EPERM, ...), errno and syscall set.
napi_value fail_errno(napi_env env, int err, const char *syscall, const char *msg);
napi_value number(napi_env env, double d);
int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what);
int get_u32(napi_env env, napi_value v, uint32_t *out, const char *what);
int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what);
int get_bool(napi_env env, napi_value v, bool *out, const char *what);
// Property `name` of object `obj`; *present = 0 if missing or undefined.
int get_prop(napi_env env, napi_value obj, const char *name, napi_value *out, int *present);

#endif
