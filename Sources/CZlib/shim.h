#ifndef PLANVAULT_CZLIB_SHIM_H
#define PLANVAULT_CZLIB_SHIM_H
#include <zlib.h>
#endif
