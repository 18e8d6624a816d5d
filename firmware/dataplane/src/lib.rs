//! Userspace WireGuard and IPIP datapath on a TUN device, for kernels without them
