# Cross-compiling the CPU backend for linux-arm64 with Debian's aarch64 toolchain
# (apt-get install g++-aarch64-linux-gnu); scripts/prebuild-cmake.sh uses it for prebuilds/linux-arm64.
# The Node-API headers are architecture-neutral (cmake-js takes them from the node-api-headers package) and
# a Linux addon links no Node library, so nothing else of Node's is needed for the target.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Target libraries and headers come from the cross sysroot only; programs (node, for node-addon-api's path)
# from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
