// One N-API addon for insel's data plane; each part registers its functions.
#ifndef INSEL_ADDON_H
#define INSEL_ADDON_H
#include <node_api.h>

napi_status aead_register(napi_env env, napi_value exports);
napi_status tun_register(napi_env env, napi_value exports);
napi_status plane_register(napi_env env, napi_value exports);

#endif
