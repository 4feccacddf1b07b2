//! `[[fault]]` tables: each names hosts that exist, within the run.

use super::*;

impl Validator<'_> {
    pub(super) fn faults(&self, raw: Vec<Spanned<RawFault>>, hosts: &[&str]) -> Result<Vec<Fault>> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, f) in raw.into_iter().enumerate() {
            let base = format!("fault[{i}]");
            let span = f.span();
            if i == 0 {
                self.set("fault", span.clone(), base.clone());
            }
            let f = f.into_inner();
            let at = self.within_run(&f.at, &format!("{base}.at"))?;
            let action = f.action;
            let word = match action {
                FaultName::Partition => "partition",
                FaultName::Repair => "repair",
                FaultName::Hold => "hold",
                FaultName::Release => "release",
                FaultName::Crash => "crash",
                FaultName::Bounce => "bounce",
            };
            let link = !matches!(action, FaultName::Crash | FaultName::Bounce);
            let not_taken: &[(&str, &Option<Spanned<String>>)] = if link {
                &[("host", &f.host)]
            } else {
                &[("a", &f.a), ("b", &f.b)]
            };
            for (key, v) in not_taken {
                if let Some(v) = v {
                    let takes = if link { "a and b" } else { "host" };
                    return Err(self.err(
                        v.span(),
                        format!("{base}.{key}"),
                        format!("`{key}` is not a key of do = \"{word}\"; expected {takes}"),
                    ));
                }
            }
            let host = |key: &str, v: &Option<Spanned<String>>| -> Result<String> {
                let Some(v) = v else {
                    let takes = if link {
                        "host names a and b"
                    } else {
                        "a host name"
                    };
                    return Err(self.err(
                        span.clone(),
                        base.clone(),
                        format!(
                            "missing required key `{key}` for do = \"{word}\"; expected {takes} (one of: {})",
                            hosts.join(", ")
                        ),
                    ));
                };
                let name = v.get_ref();
                if !hosts.contains(&name.as_str()) {
                    return Err(self
                        .err(
                            v.span(),
                            format!("{base}.{key}"),
                            format!(
                                "unknown host {name:?}; expected one of: {}",
                                hosts.join(", ")
                            ),
                        )
                        .with_hint_opt(suggestion(name, hosts.iter().copied())));
                }
                Ok(name.clone())
            };
            let kind = if link {
                let a = host("a", &f.a)?;
                let b = host("b", &f.b)?;
                if a == b {
                    return Err(self.err(
                        f.b.as_ref().map_or(span.clone(), |b| b.span()),
                        format!("{base}.b"),
                        format!("`b` is `{b}`, the same host as `a`; expected two different hosts"),
                    ));
                }
                match action {
                    FaultName::Partition => FaultKind::Partition { a, b },
                    FaultName::Repair => FaultKind::Repair { a, b },
                    FaultName::Hold => FaultKind::Hold { a, b },
                    _ => FaultKind::Release { a, b },
                }
            } else {
                let host = host("host", &f.host)?;
                match action {
                    FaultName::Crash => FaultKind::Crash { host },
                    _ => FaultKind::Bounce { host },
                }
            };
            out.push(Fault { at, kind });
        }
        out.sort_by_key(|f| f.at);
        Ok(out)
    }
}
