//! What a service binary answers before it reads a setting: its help (usage, then every
//! environment setting it reads, with the default and the note from `.env.example`) and its
//! version. Services are configured by the environment, so the help lists the environment the
//! way a flag parser lists flags.

use crate::settings::{read_by, ENV_EXAMPLE};

/// A request for information instead of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    Help,
    Version,
}

impl Info {
    /// `--help`/`help` and `--version`/`-V`. (`-h` is not help: timely reads it as the hostfile.)
    pub fn of(arg: &str) -> Option<Info> {
        match arg {
            "--help" | "help" => Some(Info::Help),
            "--version" | "-V" => Some(Info::Version),
            _ => None,
        }
    }
}

/// `usage`, then the environment `parse` reads: each setting as `NAME=default`, with the note
/// `.env.example` gives it.
pub fn help<T, E>(
    usage: &str,
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> String {
    let mut text = format!(
        "{}\n\nEnvironment (each with its default):\n",
        usage.trim_end()
    );
    for name in read_by(parse) {
        let (default, note) = documented(ENV_EXAMPLE, &name);
        text.push_str(&format!("  {name}={default}\n"));
        for line in note {
            text.push_str(&format!("      {line}\n"));
        }
    }
    text
}

/// The default of `name` in `example` and the comment lines right above it (a section heading,
/// `# --- ... ---`, is not a note).
fn documented<'a>(example: &'a str, name: &str) -> (&'a str, Vec<&'a str>) {
    let lines: Vec<&str> = example.lines().collect();
    let Some(at) = lines.iter().position(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('='))
    }) else {
        return ("", vec!["(not in .env.example)"]);
    };
    let default = &lines[at][name.len() + 1..];
    let mut first = at;
    while first > 0 {
        let above = lines[first - 1];
        if !above.starts_with('#') || above.starts_with("# ---") {
            break;
        }
        first -= 1;
    }
    let note = lines[first..at]
        .iter()
        .map(|line| line.trim_start_matches('#').trim())
        .collect();
    (default, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "# --- Kafka ---\nKAFKA_BROKERS=localhost:9092\n\
        # Identifies this pipeline.\n# Second line.\nKAFKA_GROUP_ID=b2\nEMPTY=\n";

    #[test]
    fn a_setting_carries_its_default_and_the_comment_above_it() {
        assert_eq!(
            documented(EXAMPLE, "KAFKA_BROKERS"),
            ("localhost:9092", vec![])
        );
        assert_eq!(
            documented(EXAMPLE, "KAFKA_GROUP_ID"),
            ("b2", vec!["Identifies this pipeline.", "Second line."])
        );
        assert_eq!(documented(EXAMPLE, "EMPTY"), ("", vec![]));
        assert_eq!(
            documented(EXAMPLE, "KAFKA"),
            ("", vec!["(not in .env.example)"])
        );
    }

    #[test]
    fn help_lists_what_the_parser_reads_in_its_order() {
        let parse = |env: &dyn Fn(&str) -> Option<String>| -> Result<(), ()> {
            let _ = env("KAFKA_BROKERS");
            let _ = env("DATABASE_URL");
            let _ = env("KAFKA_BROKERS");
            Ok(())
        };
        let text = help("usage: x", parse);
        let brokers = text.find("  KAFKA_BROKERS=").expect("brokers listed");
        let database = text
            .find("  DATABASE_URL=postgres://")
            .expect("database listed");
        assert!(text.starts_with("usage: x\n\nEnvironment"));
        assert!(brokers < database);
        assert_eq!(text.matches("KAFKA_BROKERS=").count(), 1);
    }

    #[test]
    fn info_flags() {
        assert_eq!(Info::of("--help"), Some(Info::Help));
        assert_eq!(Info::of("-V"), Some(Info::Version));
        assert_eq!(Info::of("-h"), None);
        assert_eq!(Info::of("run"), None);
    }
}
