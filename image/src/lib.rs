//! Firmware image builder: kernel, initramfs, GPT disk, qcow2
