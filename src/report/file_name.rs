//! The file name of a result's files under `--out DIR` (`traces/NAME.txt|json`,
//! `runs/NAME.html`).

/// The file name (without extension) of a result's traces under `--out DIR/traces/` and its
/// page under `--out DIR/runs/`: the scenario path and the target, escaped so that different
/// pairs never share a name (ASCII letters, digits, `.` and `-` stay; `/` becomes `_`; every
/// other byte, `_` included, is `%XX`), joined by `@`. A name longer than [`NAME_MAX`] keeps
/// its first bytes and ends with `~` and a digest of the pair, so it stays under the file
/// systems' 255-byte limit.
pub fn trace_file_name(scenario: &str, target: &str) -> String {
    fn escape(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' => out.push(b as char),
                b'/' => out.push('_'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut name = String::new();
    escape(scenario, &mut name);
    name.push('@');
    escape(target, &mut name);
    if name.len() > NAME_MAX {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{scenario}\0{target}").as_bytes());
        name.truncate(NAME_MAX - 17);
        name.push('~');
        for b in &d[..8] {
            name.push_str(&format!("{b:02x}"));
        }
    }
    name
}

/// The longest file name before its extension (`.json`, `.html`): well under 255 bytes.
pub const NAME_MAX: usize = 200;
