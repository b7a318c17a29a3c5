//! Events a server refused for good, remembered per server so they are never sent to it again.
//!
//! A server refuses an event for good when a rule or its operator's curation says no (an Agora
//! server names each refused event and why, docs/protocol.md "`POST /events`: per-event
//! rejections"). Sending it again can never succeed, so the client records the refusal, reports
//! it once, and leaves the event out of every later push to that server. Transient failures
//! (unreachable, 5xx, 429) are not refusals: those events are sent again next time.
//!
//! The record is the home's `refused` file, one line per refusal:
//! `SERVER<TAB>SYSTEM<TAB>PROCESS<TAB>CLOCK<TAB>REASON`, keys in base64url.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use agora_protocol::encoding::{base64url_decode, base64url_encode};
use agora_protocol::{Pointer, Process, PublicKey};

use crate::ClientError;

/// One event a server refused for good, and the reason it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub server: String,
    pub system: PublicKey,
    pub process: Process,
    pub logical_clock: u64,
    pub reason: String,
}

impl Refusal {
    pub fn pointer(&self) -> Pointer {
        Pointer {
            system: self.system,
            process: self.process,
            logical_clock: self.logical_clock,
            digest: None,
        }
    }
}

/// The refusals recorded in one home, loaded at open and appended to as they happen.
#[derive(Debug)]
pub(crate) struct Refusals {
    path: PathBuf,
    /// Server → event slots it refused, with the reason.
    known: Mutex<BTreeMap<(String, [u8; 56]), String>>,
}

impl Refusals {
    pub const FILE: &str = "refused";

    /// Loads the home's record; lines that do not parse (a torn last line) are skipped.
    pub fn load(path: PathBuf) -> Result<Self, ClientError> {
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ClientError::Io { path, source }),
        };
        let known = text
            .lines()
            .filter_map(parse_line)
            .map(|refusal| {
                let slot = refusal.pointer().slot_key();
                ((refusal.server, slot), refusal.reason)
            })
            .collect();
        Ok(Self {
            path,
            known: Mutex::new(known),
        })
    }

    /// Whether `server` refused the event at `pointer` for good.
    pub fn refused(&self, server: &str, pointer: &Pointer) -> bool {
        self.lock()
            .contains_key(&(server.to_owned(), pointer.slot_key()))
    }

    /// Records new refusals (appending to the file first, so a crash never forgets one that
    /// was reported).
    pub fn record(&self, refusals: &[Refusal]) -> Result<(), ClientError> {
        if refusals.is_empty() {
            return Ok(());
        }
        let mut known = self.lock();
        let lines: String = refusals.iter().map(line_of).collect();
        let appended = std::os::unix::fs::OpenOptionsExt::mode(
            fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(&self.path)
        .and_then(|mut file| file.write_all(lines.as_bytes()));
        appended.map_err(|source| ClientError::Io {
            path: self.path.clone(),
            source,
        })?;
        for refusal in refusals {
            let key = (refusal.server.clone(), refusal.pointer().slot_key());
            known.insert(key, refusal.reason.clone());
        }
        Ok(())
    }

    /// Forgets every refusal, so the next push offers those events again. Returns how many.
    pub fn clear(&self) -> Result<usize, ClientError> {
        let mut known = self.lock();
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClientError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let count = known.len();
        known.clear();
        Ok(count)
    }

    /// How many events `server` refused for good.
    pub fn count_for(&self, server: &str) -> usize {
        self.lock()
            .keys()
            .filter(|(refused_by, _)| refused_by == server)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, [u8; 56]), String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn line_of(refusal: &Refusal) -> String {
    let reason: String = refusal
        .reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{}\t{}\t{}\t{}\t{reason}\n",
        refusal.server,
        base64url_encode(refusal.system.as_bytes()),
        base64url_encode(refusal.process.as_bytes()),
        refusal.logical_clock,
    )
}

fn parse_line(line: &str) -> Option<Refusal> {
    let mut fields = line.splitn(5, '\t');
    let server = fields.next()?.to_owned();
    let system = PublicKey::from_bytes(&base64url_decode(fields.next()?).ok()?).ok()?;
    let process = Process::from_bytes(&base64url_decode(fields.next()?).ok()?).ok()?;
    let logical_clock = fields.next()?.parse().ok()?;
    let reason = fields.next()?.to_owned();
    Some(Refusal {
        server,
        system,
        process,
        logical_clock,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_protocol::SecretKey;

    #[test]
    fn refusals_survive_a_reload_and_are_per_server() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(Refusals::FILE);
        let refusal = Refusal {
            server: "http://a".to_owned(),
            system: SecretKey::from_seed(&[3; 32]).public_key(),
            process: Process::random(),
            logical_clock: 7,
            reason: "refused by\toperator\ncuration".to_owned(),
        };
        let refusals = Refusals::load(path.clone()).expect("load");
        refusals
            .record(std::slice::from_ref(&refusal))
            .expect("record");
        let reloaded = Refusals::load(path).expect("reload");
        assert!(reloaded.refused("http://a", &refusal.pointer()));
        assert!(!reloaded.refused("http://b", &refusal.pointer()));
        assert_eq!(reloaded.count_for("http://a"), 1);
        assert_eq!(reloaded.clear().expect("clear"), 1);
        assert!(!reloaded.refused("http://a", &refusal.pointer()));
    }
}
