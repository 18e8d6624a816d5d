//! Kernel programming over rtnetlink and generic netlink: routes, IPIP and WireGuard links
