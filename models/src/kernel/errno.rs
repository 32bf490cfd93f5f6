//! Kernel error numbers (include/uapi/asm-generic/errno-base.h), returned as `Err(Errno)`
//! where the kernel returns `-ERRNO`.

use std::fmt;

/// An error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// Out of memory.
    ENOMEM,
    /// Already exists.
    EEXIST,
    /// Invalid argument.
    EINVAL,
    /// No such entry.
    ENOENT,
    /// Device or resource busy (`xa_insert` of an index in use).
    EBUSY,
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Errno::ENOMEM => "-ENOMEM",
            Errno::EEXIST => "-EEXIST",
            Errno::EINVAL => "-EINVAL",
            Errno::ENOENT => "-ENOENT",
            Errno::EBUSY => "-EBUSY",
        };
        f.write_str(s)
    }
}
