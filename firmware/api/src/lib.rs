//! Control and status API: snapshot types, HTTP server and client
