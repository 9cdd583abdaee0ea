//! Shell completions and the man page are generated from the same clap definition the binary
//! parses with, so every command and flag is in them.

mod common;
use common::*;

#[test]
fn completions_and_man_page_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let r = ferry(&["completions", shell]);
        assert_eq!(r.status, 0, "{}", r.all());
        for word in ["migrate", "verify", "sync", "cutover", "if-exists", "setup"] {
            assert!(r.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = ferry(&["man"]);
    assert_eq!(man.status, 0, "{}", man.all());
    assert!(man.stdout.contains(".TH ferry 1") && man.stdout.contains("migrate") && man.stdout.contains("completions"), "{}", man.stdout);
}
