#ifndef PLANVAULT_CZLIB_SHIM_H
#define PLANVAULT_CZLIB_SHIM_H
#include <zlib.h>

/* deflateInit2 is a macro, which Swift cannot call: a zlib stream (RFC 1950) with a 32 KiB
   window and zlib's default memory level and strategy, as compress2() makes. */
static inline int planvault_deflate_init(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY);
}
#endif
