//! Firmware image builder: kernel, initramfs, GPT disk, qcow2.
//!
//! - [`gpt`] and [`layout`] (always available, std only): the partition layout shared by the
//!   builder, `routerd-tool provision` and the router's init, and a GPT writer/reader.
//! - With the default `builder` feature, the host-side pipeline lives in `board` (board
//!   descriptions), `kernel` (Debian kernel packages and module closure), `initramfs`
//!   (newc cpio), `disk` (ESP, boot loaders, config/state partitions) and `build` (the whole
//!   run with its manifest). Call order: `board::Board::load` -> `build::build`.
//! - Also with `builder`, `guest`: QEMU guests of built images (command line, tap NICs,
//!   the config blob in slot A of a disk copy) for the host tools and tests that boot them.

#[cfg(feature = "builder")]
pub mod board;
#[cfg(feature = "builder")]
pub mod build;
#[cfg(feature = "builder")]
pub mod disk;
pub mod gpt;
#[cfg(feature = "builder")]
pub mod guest;
#[cfg(feature = "builder")]
pub mod initramfs;
#[cfg(feature = "builder")]
pub mod kernel;
pub mod layout;
