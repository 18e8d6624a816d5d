//! System tests: network namespaces, real BGP peers, QEMU guests
