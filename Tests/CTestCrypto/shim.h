// Test-only: OpenSSL's SHA-256 (libcrypto), so multi-hundred-MiB checks stay fast in debug builds.
#include <openssl/evp.h>
