{
  # `npm install` builds this (package.json "install": scripts/build-native.mjs);
  # OpenSSL comes from Node itself: its headers ship with Node's, and its
  # symbols resolve against the node binary at load time (no -lcrypto).
  "targets": [
    {
      "target_name": "insel",
      "sources": ["native/addon.c", "native/args.c", "native/aead.c", "native/mss.c", "native/gso.c", "native/tun.c", "native/plane.c", "native/plane-io.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
