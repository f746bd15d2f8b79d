#ifndef READ_FAULT_SHIM_H
#define READ_FAULT_SHIM_H

// The shim exports nothing of its own: its work is the read(2) it interposes (see shim.c).
// SwiftPM wants a public header folder for a C target.

#endif
