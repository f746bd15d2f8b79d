#ifndef READ_FAULT_SHIM_H
#define READ_FAULT_SHIM_H

/// Always 1: lets a test check that the shim was built. The shim's work is its read(2).
int read_fault_shim_is_loaded(void);

#endif
