//! An identity's home directory: its secret key, this device's process, and the local store.
//!
//! Layout: `identity.key` (base64 of the 32-byte Ed25519 seed this home signs with, mode 0600),
//! `process` (base64 of the 16-byte process id), `store/` (the SQLite store), and, on a device
//! of an identity whose root key lives elsewhere, `device-of` (base64 of the identity's public
//! key; see docs/protocol.md, "Devices"). Without `device-of` the signing key is the identity's
//! root key.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use agora_protocol::encoding::{base64_any_decode, base64_standard_encode};
use agora_protocol::{Process, PublicKey, SecretKey};
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use zeroize::Zeroizing;

use crate::ClientError;

/// One identity on one device, loaded from its directory.
#[derive(Debug)]
pub struct Home {
    dir: PathBuf,
    secret: SecretKey,
    process: Process,
    /// The identity this home's key is a device of, when it is not the identity's root key.
    device_of: Option<PublicKey>,
    store: SqliteStore,
}

impl Home {
    pub const KEY_FILE: &str = "identity.key";
    pub const PROCESS_FILE: &str = "process";
    pub const STORE_DIR: &str = "store";
    pub const DEVICE_OF_FILE: &str = "device-of";

    /// Creates a new identity in `dir` (created if needed). Refuses when one already exists.
    pub fn init(dir: &Path) -> Result<Self, ClientError> {
        Self::import(dir, SecretKey::generate())
    }

    /// Creates an identity in `dir` for an existing key (an imported backup), with a new random
    /// process: a process is never reused across devices. Refuses when one already exists.
    pub fn import(dir: &Path, secret: SecretKey) -> Result<Self, ClientError> {
        fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
        write_key(&dir.join(Self::KEY_FILE), &secret)?;
        let process = Process::random();
        let process_path = dir.join(Self::PROCESS_FILE);
        let text = format!("{}\n", base64_standard_encode(process.as_bytes()));
        fs::write(&process_path, text).map_err(|source| io_error(&process_path, source))?;
        Self::load(dir, secret, process)
    }

    /// Creates a new device of `identity` in `dir`: a fresh key of its own (the identity's
    /// secret never comes here) and a new process. Refuses when one already exists.
    pub fn init_device(dir: &Path, identity: &PublicKey) -> Result<Self, ClientError> {
        let home = Self::init(dir)?;
        write_device_of(dir, identity)?;
        Ok(Self {
            device_of: Some(*identity),
            ..home
        })
    }

    /// Turns a home holding an identity's root key into a device of it signing with `device`:
    /// the new key and `device-of` are written first and the root key file is replaced last, so
    /// a crash leaves either the root home or the device home, never a home without a key.
    pub fn become_device(self, device: SecretKey) -> Result<Self, ClientError> {
        let identity = self.system();
        // The device is a new system: it starts a process of its own.
        let process = Process::random();
        let process_path = self.dir.join(Self::PROCESS_FILE);
        let text = format!("{}\n", base64_standard_encode(process.as_bytes()));
        fs::write(&process_path, text).map_err(|source| io_error(&process_path, source))?;
        let staged = self.dir.join(format!("{}.new", Self::KEY_FILE));
        let _ = fs::remove_file(&staged);
        write_key(&staged, &device)?;
        write_device_of(&self.dir, &identity)?;
        let path = self.dir.join(Self::KEY_FILE);
        fs::rename(&staged, &path).map_err(|source| io_error(&path, source))?;
        Ok(Self {
            secret: device,
            process,
            device_of: Some(identity),
            ..self
        })
    }

    /// Opens the identity in `dir`, as `init` left it.
    pub fn open(dir: &Path) -> Result<Self, ClientError> {
        let secret = read_key(&dir.join(Self::KEY_FILE))?;
        let process = read_process(&dir.join(Self::PROCESS_FILE))?;
        let mut home = Self::load(dir, secret, process)?;
        home.device_of = read_device_of(&dir.join(Self::DEVICE_OF_FILE))?;
        Ok(home)
    }

    fn load(dir: &Path, secret: SecretKey, process: Process) -> Result<Self, ClientError> {
        let options = SqliteOptions {
            readers_max: 4,
            writer_cache_kib: 16 * 1024,
            reader_cache_kib: 8 * 1024,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&dir.join(Self::STORE_DIR), options)?;
        make_private(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            secret,
            process,
            device_of: None,
            store,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key this home signs with: the identity's root key, or a device key.
    pub fn system(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// The identity this home publishes for: its own key, or the identity it is a device of.
    pub fn identity(&self) -> PublicKey {
        self.device_of.unwrap_or_else(|| self.system())
    }

    pub fn process(&self) -> Process {
        self.process
    }

    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// Takes the parts apart, for the client that publishes with them.
    pub(crate) fn into_parts(
        self,
    ) -> (PathBuf, SecretKey, Process, Option<PublicKey>, SqliteStore) {
        (
            self.dir,
            self.secret,
            self.process,
            self.device_of,
            self.store,
        )
    }
}

/// Makes `dir` and everything in it readable by its owner only (directories 0700, files 0600):
/// the key, the local store of what this identity read, and the refusal record are nobody
/// else's business. Run at every open, so a home made by an older `agora` is fixed too.
fn make_private(dir: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::PermissionsExt as _;
    let entries = fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|source| io_error(dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| io_error(dir, source))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|source| io_error(&path, source))?;
        if kind.is_dir() {
            make_private(&path)?;
        } else if kind.is_file() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|source| io_error(&path, source))?;
        }
    }
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> ClientError {
    ClientError::Io {
        path: path.to_owned(),
        source,
    }
}

fn malformed(path: &Path, reason: impl Into<String>) -> ClientError {
    ClientError::Malformed {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Writes the seed to a new file that only its owner can read; never replaces an existing one.
fn write_key(path: &Path, secret: &SecretKey) -> Result<(), ClientError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => ClientError::IdentityExists {
                path: path.to_owned(),
            },
            _ => io_error(path, source),
        })?;
    let text = Zeroizing::new(format!("{}\n", base64_standard_encode(secret.seed())));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(path, source))
}

fn read_key(path: &Path) -> Result<SecretKey, ClientError> {
    let metadata = fs::metadata(path).map_err(|source| io_error(path, source))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClientError::KeyPermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| io_error(path, source))?);
    let bytes = Zeroizing::new(
        base64_any_decode(text.trim()).map_err(|error| malformed(path, error.to_string()))?,
    );
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| malformed(path, format!("seed must be 32 bytes, got {}", bytes.len())))?,
    );
    Ok(SecretKey::from_seed(&seed))
}

fn write_device_of(dir: &Path, identity: &PublicKey) -> Result<(), ClientError> {
    let path = dir.join(Home::DEVICE_OF_FILE);
    let text = format!("{}\n", base64_standard_encode(identity.as_bytes()));
    fs::write(&path, text).map_err(|source| io_error(&path, source))
}

fn read_device_of(path: &Path) -> Result<Option<PublicKey>, ClientError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(path, source)),
    };
    let bytes =
        base64_any_decode(text.trim()).map_err(|error| malformed(path, error.to_string()))?;
    PublicKey::from_bytes(&bytes)
        .map(Some)
        .map_err(|error| malformed(path, error.to_string()))
}

fn read_process(path: &Path) -> Result<Process, ClientError> {
    let text = fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let bytes =
        base64_any_decode(text.trim()).map_err(|error| malformed(path, error.to_string()))?;
    Process::from_bytes(&bytes).map_err(|error| malformed(path, error.to_string()))
}
