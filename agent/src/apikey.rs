//! The Bearer credential: read from a root-only file and kept out of every log line.
//!
//! It is the node's push token (`POST /internal/nodes/:id/token`), which opens only this node's
//! metrics push; on a not yet migrated node it is still the control plane's `INTERNAL_API_KEY`,
//! which opens everything. Either way a file any local user can read or replace would hand a
//! compromised tenant process the credential, so the agent refuses to run with such a file rather
//! than warn: a warning in a journal nobody reads does not get the file fixed.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Opaque on purpose: `Debug` and `Display` never show the value.
pub struct ApiKey(String);

impl ApiKey {
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Group or other may read, write or execute: any of these bits means someone besides the
/// owner can get at (or replace) the key.
pub fn check_mode(path: &Path, mode: u32) -> Result<(), String> {
    if mode & 0o077 != 0 {
        return Err(format!(
            "token file {} has mode {:04o}; it must be readable by its owner only \
             (chmod 600 {0}), or pass --insecure-key-file-permissions",
            path.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// "Root-only" also means root's: a 0600 file owned by another account (say the one the sites run
/// as) lets that account read or replace the key. Root's file, or the agent's own account's when
/// it does not run as root.
pub fn check_owner(path: &Path, owner: u32, me: u32) -> Result<(), String> {
    if owner == 0 || owner == me {
        Ok(())
    } else {
        Err(format!(
            "token file {} is owned by uid {owner}; it must belong to root (chown root:root {0}), \
             or pass --insecure-key-file-permissions",
            path.display()
        ))
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks the mode of the file actually opened (not a second `stat` of the path), so the file
/// cannot be swapped between the check and the read.
pub fn read(path: &Path, insecure_permissions_ok: bool) -> Result<ApiKey, String> {
    let file = File::open(path).map_err(|e| format!("cannot open token file {}: {e}", path.display()))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat token file {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("token file {} is not a regular file", path.display()));
    }
    if !insecure_permissions_ok {
        check_mode(path, meta.permissions().mode())?;
        check_owner(path, meta.uid(), effective_uid())?;
    }
    let mut text = String::new();
    file.take(64 * 1024).read_to_string(&mut text).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("token file {}: {e}", path.display()))
}

/// One token, surrounding whitespace and the trailing newline of `echo key > file` ignored.
/// Inner whitespace or control characters would make an invalid or smuggled header, so they are
/// refused; the message never quotes the content.
pub fn parse(text: &str) -> Result<ApiKey, String> {
    let key = text.trim();
    if key.is_empty() {
        return Err("is empty".to_string());
    }
    if !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must hold one token of printable ASCII without spaces".to_string());
    }
    Ok(ApiKey(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_belongs_to_root_or_the_agent() {
        let p = Path::new("/etc/cp-agent/api-key");
        assert!(check_owner(p, 0, 1000).is_ok());
        assert!(check_owner(p, 1000, 1000).is_ok());
        let e = check_owner(p, 33, 0).unwrap_err();
        assert!(e.contains("uid 33") && e.contains("chown root"), "{e}");
    }
    use crate::testutil::TempDir;
    use std::fs;

    #[test]
    fn mode_check_cases() {
        let p = Path::new("/etc/cp-agent/api-key");
        for mode in [0o100600, 0o100400, 0o100700, 0o600] {
            assert!(check_mode(p, mode).is_ok(), "{mode:o}");
        }
        for mode in [0o100640, 0o100644, 0o100604, 0o100660, 0o100601, 0o100610] {
            let e = check_mode(p, mode).unwrap_err();
            assert!(e.contains("chmod 600"), "{e}");
            assert!(e.contains(&format!("{:04o}", mode & 0o7777)), "{e}");
        }
    }

    fn key_file(mode: u32, content: &str) -> (TempDir, std::path::PathBuf) {
        let dir = TempDir::new("key");
        let path = dir.path().join("api-key");
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_a_private_key_file() {
        let (_dir, path) = key_file(0o600, "s3cret-token\n");
        let key = read(&path, false).unwrap();
        assert_eq!(key.bearer_header(), "Bearer s3cret-token");
    }

    #[test]
    fn refuses_a_group_readable_file_unless_told_otherwise() {
        let (_dir, path) = key_file(0o640, "s3cret-token\n");
        let e = read(&path, false).unwrap_err();
        assert!(e.contains("mode 0640"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        assert!(read(&path, true).is_ok());
    }

    #[test]
    fn missing_file_and_directory_are_errors() {
        let dir = TempDir::new("nokey");
        let e = read(&dir.path().join("absent"), false).unwrap_err();
        assert!(e.contains("cannot open token file"), "{e}");
        let e = read(dir.path(), true).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn content_rules() {
        assert!(parse("  abc.DEF-123_=  \n").is_ok());
        for bad in ["", " \n", "two words", "tab\tinside", "new\nline"] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains(bad.trim()) || bad.trim().is_empty(), "{e}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = parse("s3cret-token").unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    }
}
