//! What every command promises a person and a script alike: one JSON object under `--json`
//! (errors too), the exit-status table, text that fits the terminal in local time, followers and
//! following, shell completions and an example in every `--help`.

use std::path::Path;

use agora_testnet::TestServer;

use crate::support::{
    DEAD_SERVER, EXIT_BAD_INPUT, EXIT_NO_SERVER_ANSWERED, EXIT_SOME_SERVERS_FAILED, agora,
    identity, parse_json, run,
};

/// `agora ARGS` with no `--home` (for commands that need none).
async fn bare(args: &[&str]) -> crate::support::Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agora"));
    command.args(args).env("RUST_LOG", "off");
    run(command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_json_answer_and_every_json_error_is_one_object_and_exit_statuses_hold() {
    let server = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let (home, alone, both) = (
        dirs.path().join("home"),
        dirs.path().join("alone"),
        dirs.path().join("both"),
    );
    identity(&home, &[&server.url()]).await;
    identity(&alone, &[DEAD_SERVER]).await;
    identity(&both, &[&server.url(), DEAD_SERVER]).await;
    let posted = agora(&home, &["post", "hello", "--json"]).await.json();
    let short = posted["event"].as_str().expect("short form").to_owned();
    let missing = dirs.path().join("nobody");

    // (home, args, exit status): successes, partial and total failures, and bad input.
    let cases: Vec<(&Path, Vec<&str>, i32)> = vec![
        (&home, vec!["whoami"], 0),
        (&home, vec!["link"], 0),
        (&home, vec!["feed"], 0),
        (&home, vec!["following"], 0),
        (&home, vec!["followers"], 0),
        (&home, vec!["blocked"], 0),
        (&home, vec!["server", "list"], 0),
        (&home, vec!["show", &short], 0),
        (&home, vec!["like", &short], 0),
        (&home, vec!["search", "hello"], 0),
        (&home, vec!["sync"], 0),
        (&both, vec!["post", "half"], EXIT_SOME_SERVERS_FAILED),
        (&both, vec!["sync"], EXIT_SOME_SERVERS_FAILED),
        (
            &alone,
            vec!["post", "nobody hears"],
            EXIT_NO_SERVER_ANSWERED,
        ),
        (&alone, vec!["sync"], EXIT_NO_SERVER_ANSWERED),
        (&alone, vec!["explore"], EXIT_NO_SERVER_ANSWERED),
        (&home, vec!["follow", "not-a-link"], EXIT_BAD_INPUT),
        (&home, vec!["like", "nobody/1"], EXIT_BAD_INPUT),
        (&home, vec!["server", "remove", DEAD_SERVER], EXIT_BAD_INPUT),
        (&home, vec!["server", "add", DEAD_SERVER], EXIT_BAD_INPUT),
        (&home, vec!["no-such-command"], EXIT_BAD_INPUT),
        (&missing, vec!["whoami"], 1),
    ];
    for (home, args, status) in cases {
        let mut with_json = args.clone();
        with_json.push("--json");
        let run = agora(home, &with_json).await;
        assert_eq!(
            run.code,
            Some(status),
            "{args:?}: {}{}",
            run.stdout,
            run.stderr
        );
        let value = parse_json(&run.stdout);
        if status == 0 || status == EXIT_SOME_SERVERS_FAILED {
            assert!(value.get("error").is_none(), "{args:?}: {value}");
        } else if status != EXIT_NO_SERVER_ANSWERED || value.get("error").is_some() {
            assert!(
                value["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{args:?}: {value}"
            );
            assert_eq!(value["exit"], status, "{args:?}: {value}");
        }
        // The same command as text exits the same way, and errors go to stderr.
        let text = agora(home, &args).await;
        assert_eq!(text.code, Some(status), "{args:?} as text: {}", text.stderr);
        if status == EXIT_BAD_INPUT || status == 1 {
            assert!(text.stderr.contains("error"), "{args:?}: {}", text.stderr);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn text_output_fits_the_terminal_in_local_time_and_long_prints_links() {
    let server = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = (dirs.path().join("alice"), dirs.path().join("bob"));
    let alice_link = identity(&alice, &[&server.url()]).await;
    identity(&bob, &[&server.url()]).await;
    agora(&alice, &["profile", "--name", "alice"]).await.ok();
    let long_text = "walruses ".repeat(40);
    let first = agora(
        &alice,
        &["post", long_text.trim(), "--topic", "arctic", "--json"],
    )
    .await
    .json();
    let first_short = first["event"].as_str().expect("short").to_owned();
    agora(&bob, &["follow", &alice_link]).await.ok();
    let reply = agora(
        &bob,
        &["post", "indeed", "--reply-to", &first_short, "--json"],
    )
    .await
    .json();
    let reply_short = reply["event"].as_str().expect("short").to_owned();

    let liked = agora(&bob, &["like", &first_short]).await.ok();
    let feed = agora(&bob, &["feed"]).await.ok();
    let shown = agora(&bob, &["show", &first_short]).await.ok();
    for (what, text) in [("like", &liked), ("feed", &feed), ("show", &shown)] {
        assert!(!text.contains("polycentric://"), "{what}: {text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{what}: {line:?} is wider than 80"
            );
        }
    }
    assert!(
        liked.starts_with(&format!("liked {first_short}")),
        "{liked}"
    );
    assert!(
        feed.contains("#arctic") && feed.contains(&reply_short),
        "{feed}"
    );
    assert!(
        feed.contains(&format!("↳ reply to alice's {first_short}")),
        "{feed}"
    );
    assert!(
        shown.contains("indeed") && shown.contains("likes: 1"),
        "{shown}"
    );

    // COLUMNS narrows it; --long prints the links.
    let mut narrow = std::process::Command::new(env!("CARGO_BIN_EXE_agora"));
    narrow
        .args(["feed", "--home"])
        .arg(&bob)
        .env("COLUMNS", "40")
        .env("RUST_LOG", "off");
    let narrow = run(narrow).await.ok();
    assert!(
        narrow.lines().all(|line| line.chars().count() <= 40),
        "{narrow}"
    );
    let long = agora(&bob, &["feed", "--long"]).await.ok();
    assert!(long.contains("polycentric://"), "{long}");

    // Times are the reader's: the same post at UTC and at UTC+05:30.
    let at = |zone: &'static str| {
        let (bob, reply_short) = (bob.clone(), reply_short.clone());
        async move {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agora"));
            command
                .args(["show", &reply_short, "--home"])
                .arg(&bob)
                .env("TZ", zone)
                .env("RUST_LOG", "off");
            run(command).await.ok()
        }
    };
    let (utc, india) = (at("UTC").await, at("Asia/Kolkata").await);
    let minutes = |text: &str| -> i64 {
        let header = text.lines().next().expect("a header line");
        let time = header
            .split_whitespace()
            .find(|word| word.len() == 5 && word.as_bytes()[2] == b':')
            .unwrap_or_else(|| panic!("a time in {header:?}"));
        let (h, m) = time.split_once(':').expect("HH:MM");
        h.parse::<i64>().expect("hour") * 60 + m.parse::<i64>().expect("minute")
    };
    let shift = (minutes(&india) - minutes(&utc)).rem_euclid(24 * 60);
    assert_eq!(shift, 5 * 60 + 30, "UTC: {utc}\nAsia/Kolkata: {india}");
}

#[tokio::test(flavor = "multi_thread")]
async fn followers_and_following_list_people_by_name_and_key() {
    let server = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let (alice, bob, carol) = (
        dirs.path().join("alice"),
        dirs.path().join("bob"),
        dirs.path().join("carol"),
    );
    let alice_link = identity(&alice, &[&server.url()]).await;
    for (home, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        if home != &alice {
            identity(home, &[&server.url()]).await;
        }
        agora(home, &["profile", "--name", name]).await.ok();
    }
    agora(&bob, &["follow", &alice_link]).await.ok();
    agora(&carol, &["follow", &alice_link]).await.ok();
    agora(&carol, &["unfollow", &alice_link]).await.ok();

    let followers = agora(&alice, &["followers", "--json"]).await.json();
    let names: Vec<&str> = followers["followers"]
        .as_array()
        .expect("followers")
        .iter()
        .map(|person| person["username"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["bob"], "carol unfollowed: {followers}");
    let text = agora(&alice, &["followers"]).await.ok();
    let bob_key = agora(&bob, &["whoami", "--json"]).await.json()["system"]
        .as_str()
        .expect("key")
        .to_owned();
    assert!(text.contains("bob") && text.contains(&bob_key), "{text}");

    // Anyone's followers, by any name for them; and whom bob follows.
    let from_carol = agora(&carol, &["followers", &alice_link, "--json"])
        .await
        .json();
    assert_eq!(
        from_carol["followers"][0]["system"],
        bob_key.as_str(),
        "{from_carol}"
    );
    let following = agora(&bob, &["following"]).await.ok();
    assert!(following.starts_with("alice"), "{following}");
    let none = agora(&carol, &["following"]).await.ok();
    assert!(none.contains("you follow no one"), "{none}");
}

#[tokio::test]
async fn completions_are_printed_for_bash_zsh_and_fish_and_every_help_has_an_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        let script = bare(&["completions", shell]).await.ok();
        for command in ["follow", "followers", "server", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
        let file = dir.path().join(shell);
        std::fs::write(&file, &script).expect("write");
        // Each shell that is installed here parses its script.
        if let Ok(status) = std::process::Command::new(shell)
            .arg("-n")
            .arg(&file)
            .status()
        {
            assert!(status.success(), "{shell} -n rejects the script");
        }
    }
    let bad = bare(&["completions", "tcsh"]).await;
    assert_eq!(bad.code, Some(EXIT_BAD_INPUT));

    for command in [
        &["follow"][..],
        &["server", "add"],
        &["device", "pair"],
        &["completions"],
    ] {
        let help = bare(&[command, &["--help"]].concat()).await.ok();
        assert!(help.contains("Example"), "{command:?}: {help}");
    }
    let top = bare(&["--help"]).await.ok();
    assert!(top.contains("Exit status: 0 done"), "{top}");
}
