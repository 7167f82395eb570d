// insel's native addon: the data-plane work JavaScript cannot do fast enough
// (see ARCHITECTURE.md "native/"). Each part lives in its own file.
#include "addon.h"

static napi_value init(napi_env env, napi_value exports) {
  if (aead_register(env, exports) != napi_ok || tun_register(env, exports) != napi_ok || plane_register(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
