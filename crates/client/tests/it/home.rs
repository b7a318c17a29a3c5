//! The home directory: creating, reopening and protecting an identity.

use std::os::unix::fs::PermissionsExt as _;

use agora_client::{ClientError, Home};

#[test]
fn init_then_open_loads_the_same_identity_and_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let created = Home::init(dir.path()).expect("init");
    let (system, process) = (created.system(), created.process());
    drop(created);
    let opened = Home::open(dir.path()).expect("open");
    assert_eq!((opened.system(), opened.process()), (system, process));
}

#[test]
fn key_file_is_private_to_its_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    Home::init(dir.path()).expect("init");
    let mode = std::fs::metadata(dir.path().join(Home::KEY_FILE))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn init_refuses_to_overwrite_an_identity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Home::init(dir.path()).expect("init").system();
    let error = Home::init(dir.path()).expect_err("second init");
    assert!(
        matches!(error, ClientError::IdentityExists { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("refusing to overwrite"),
        "{error}"
    );
    assert_eq!(Home::open(dir.path()).expect("open").system(), first);
}

#[test]
fn open_names_a_missing_or_malformed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = Home::open(dir.path()).expect_err("nothing there");
    assert!(error.to_string().contains(Home::KEY_FILE), "{error}");

    Home::init(dir.path()).expect("init");
    std::fs::write(dir.path().join(Home::PROCESS_FILE), "AAAA\n").expect("write");
    let error = Home::open(dir.path()).expect_err("short process");
    assert!(error.to_string().contains(Home::PROCESS_FILE), "{error}");
    assert!(error.to_string().contains("malformed"), "{error}");
}

#[test]
fn open_refuses_a_key_others_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    Home::init(dir.path()).expect("init");
    let key = dir.path().join(Home::KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = Home::open(dir.path()).expect_err("readable key");
    assert!(
        matches!(error, ClientError::KeyPermissions { mode: 0o644, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("chmod 600"), "{error}");
}

#[test]
fn debug_output_does_not_contain_the_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::init(dir.path()).expect("init");
    let seed_text = std::fs::read_to_string(dir.path().join(Home::KEY_FILE)).expect("key");
    assert!(!format!("{home:?}").contains(seed_text.trim()));
}
