//! disk_pct of one mount point, computed the way `df` does so operators can check it by eye.
//!
//! The only `unsafe` in the agent lives here (one `statvfs` call); the arithmetic is a pure
//! function next to it.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::procfs::round_pct;

/// The three block counts `df` uses; all in the same unit, so the block size drops out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCounts {
    pub blocks: u64,
    pub bfree: u64,
    /// Free blocks an unprivileged user may use: smaller than `bfree` by the root reserve
    /// (5 % on ext4 by default). Tenant processes do not run as root, so this is what matters.
    pub bavail: u64,
}

pub fn statvfs(path: &Path) -> io::Result<BlockCounts> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call, and `buf` is a
    // plain C struct that statvfs fully initialises when it returns 0.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut buf) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types differ between libc targets (u32 on some 32-bit ones); widen uniformly.
    #[allow(clippy::useless_conversion)]
    Ok(BlockCounts { blocks: u64::from(buf.f_blocks), bfree: u64::from(buf.f_bfree), bavail: u64::from(buf.f_bavail) })
}

/// `used / (used + avail) * 100` with `used = blocks - bfree`: df's "Use%". Dividing by
/// `used + avail` rather than `blocks` makes a disk whose unreserved space is gone read 100 %,
/// which is when tenants start failing writes.
pub fn disk_pct(c: BlockCounts) -> Result<f64, String> {
    let used = c.blocks.saturating_sub(c.bfree);
    let denominator = used.saturating_add(c.bavail);
    if denominator == 0 {
        return Err("filesystem reports no usable blocks".to_string());
    }
    Ok(round_pct(used as f64 * 100.0 / denominator as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(blocks: u64, bfree: u64, bavail: u64) -> BlockCounts {
        BlockCounts { blocks, bfree, bavail }
    }

    #[test]
    fn disk_pct_cases() {
        for (c, want) in [
            // A 160 GB Hetzner disk (4 KiB blocks), 5 % reserve, 61.2 GB used.
            (counts(39_321_600, 24_378_880, 22_412_800), 40.0),
            (counts(1000, 1000, 950), 0.0),
            // Only the root reserve left: full for tenants.
            (counts(1000, 50, 0), 100.0),
            (counts(1000, 500, 500), 50.0),
        ] {
            assert_eq!(disk_pct(c).unwrap(), want, "{c:?}");
        }
    }

    #[test]
    fn empty_filesystem_is_an_error() {
        assert!(disk_pct(counts(0, 0, 0)).is_err());
    }

    #[test]
    fn statvfs_of_root_gives_a_percentage() {
        let pct = disk_pct(statvfs(Path::new("/")).unwrap()).unwrap();
        assert!((0.0..=100.0).contains(&pct), "{pct}");
    }

    #[test]
    fn statvfs_of_missing_path_is_an_io_error() {
        let e = statvfs(Path::new("/nonexistent/cp-agent-test")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
