{
  # The source-install fallback that node-gyp-build uses when no prebuilt binary fits this machine:
  # CPU backend only, so a source install needs neither CUDA nor cmake (just a C++17 compiler).
  "targets": [
    {
      "target_name": "gpuformer",
      "sources": [
        "<!@(node -p \"['core','cpu','addon'].flatMap(d => require('fs').readdirSync('native/' + d).filter(f => f.endsWith('.cc')).map(f => 'native/' + d + '/' + f)).join(' ')\")"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native",
        "native/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++1y", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-ffp-contract=off"],
      "libraries": ["-lpthread", "-ldl"]
    }
  ]
}
