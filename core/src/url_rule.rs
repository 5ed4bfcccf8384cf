//! The one rule for URLs the Worker sends a secret to: `https://`, or plain `http://` only to
//! this machine (a local fake GitHub in tests and `wrangler dev`).
//!
//! The host is parsed, not prefix-matched: `http://127.evil.example` and
//! `http://127.0.0.1@evil.example` name other machines and are refused.

/// Whether `url` is `https://` with a host, or `http://` to a loopback host (`127.0.0.0/8`,
/// `localhost`, `[::1]`).
pub fn https_or_loopback(url: &str) -> bool {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return false;
    }
    let Some(host) = host_of(authority) else {
        return false;
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => !host.is_empty(),
        "http" => is_loopback_host(host),
        _ => false,
    }
}

/// The host of `host[:port]` or `[v6][:port]`; `None` when the port is not digits.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            a => Some(a.strip_prefix(':')?),
        };
        (&authority[..inside.len() + 2], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port {
        Some(p) if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(host),
    }
}

/// `localhost`, `[::1]`, or a dotted-quad IPv4 address in `127.0.0.0/8`.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| (1..=3).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_digit()) && o.parse::<u16>().is_ok_and(|n| n <= 255))
        && octets[0] == "127"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_this_machine() {
        let cases = [
            ("https://api.github.com/repos/o/r/actions/workflows/p.yml/dispatches", true),
            ("HTTPS://api.github.com/x", true),
            ("https://ghe.example.com:8443/api/v3/x", true),
            ("http://127.0.0.1:8787/x", true),
            ("http://127.1.2.3/x", true),
            ("http://localhost:9/x", true),
            ("http://LOCALHOST/x", true),
            ("http://[::1]:9/x", true),
            ("http://[::1]/x", true),
            ("http://api.github.com/x", false),
            ("http://127.evil.example/x", false),
            ("http://127.0.0.1.evil.example/x", false),
            ("http://127.0.0.1@evil.example/x", false),
            ("http://evil.example#@127.0.0.1/", false),
            ("http://localhost.evil.example/x", false),
            ("http://128.0.0.1/x", false),
            ("http://127.0.0.256/x", false),
            ("http://127.0.0/x", false),
            ("http://[::2]/x", false),
            ("http://[::1]evil/x", false),
            ("http://127.0.0.1:80a/x", false),
            ("http://127.0.0.1:/x", false),
            ("https:///x", false),
            ("https://", false),
            ("ftp://127.0.0.1/x", false),
            ("127.0.0.1/x", false),
            ("http://127.0.0.1 /x", false),
            ("", false),
        ];
        for (url, want) in cases {
            assert_eq!(https_or_loopback(url), want, "{url}");
        }
    }
}
