//! Settings come from the process environment only; the binaries do not read a `.env` file
//! (`scripts/run-local.sh` does, and exports it). A binary's parser reads each setting through a
//! lookup function, so tests can configure it with a map and this module can list what it reads.
//! `.env.example` at the repository root documents every setting with its default; a setting it
//! does not list is one an operator cannot find.

/// The repository's `.env.example`.
pub const ENV_EXAMPLE: &str = include_str!("../../.env.example");

/// One variable of the process environment; unset and not-Unicode are both `None`.
pub fn from_process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Every setting `parse` reads, in the order it first reads them, found by running it on an
/// empty environment (where every setting takes its default).
pub fn read_by<T, E>(
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> Vec<String> {
    let read = std::cell::RefCell::new(Vec::<String>::new());
    let _ = parse(&|name: &str| {
        let mut read = read.borrow_mut();
        if !read.iter().any(|seen| seen == name) {
            read.push(name.to_owned());
        }
        None
    });
    read.into_inner()
}

/// The settings `parse` reads that `.env.example` does not list (as `NAME=`).
pub fn unlisted_in_env_example<T, E>(
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> Result<Vec<String>, E> {
    let mut outcome = Ok(());
    let read = read_by(|env| {
        outcome = parse(env).map(drop);
        Ok::<(), ()>(())
    });
    outcome?;
    Ok(read
        .into_iter()
        .filter(|name| !lists(ENV_EXAMPLE, name))
        .collect())
}

fn lists(example: &str, name: &str) -> bool {
    example.lines().any(|line| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('='))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_parser_reads_and_the_example_misses() {
        let parse = |env: &dyn Fn(&str) -> Option<String>| -> Result<(), String> {
            for name in ["DATABASE_URL", "NOT_A_SETTING_ANYWHERE", "KAFKA_BROKERS"] {
                let _ = env(name);
            }
            Ok(())
        };
        assert_eq!(
            unlisted_in_env_example(parse),
            Ok(vec!["NOT_A_SETTING_ANYWHERE".to_owned()])
        );
        let refuses = |_: &dyn Fn(&str) -> Option<String>| -> Result<(), String> {
            Err("no defaults".into())
        };
        assert_eq!(unlisted_in_env_example(refuses), Err("no defaults".into()));
    }

    #[test]
    fn a_listed_name_is_a_whole_name() {
        assert!(lists("KAFKA_TOPIC=traffic-events\n", "KAFKA_TOPIC"));
        assert!(!lists("KAFKA_TOPIC_X=1\n", "KAFKA_TOPIC"));
        assert!(!lists("# KAFKA_TOPIC=1\n", "KAFKA_TOPIC"));
    }
}
