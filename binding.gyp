{
  # `npm install` builds this (package.json "install": scripts/build-native.mjs);
  # OpenSSL comes from Node itself: its headers ship with Node's, and its
  # symbols resolve against the node binary at load time (no -lcrypto).
  "targets": [
    {
      "target_name": "insel",
      "sources": ["native/addon.c", "native/aead.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
