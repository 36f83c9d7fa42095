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

/// A setting whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct SettingError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// librdkafka properties: those of the file `KAFKA_PROPERTIES_FILE` (one `key=value` a line,
/// `#` comments; a value keeps its commas and spaces, as `sasl.jaas.config` or cipher lists
/// need), then the comma-separated `KAFKA_PROPERTIES` (`inline_default` when unset), so the
/// inline list overrides the file.
pub fn kafka_properties(
    lookup: &dyn Fn(&str) -> Option<String>,
    inline_default: &str,
) -> Result<Vec<(String, String)>, SettingError> {
    let mut properties = Vec::new();
    if let Some(path) = lookup("KAFKA_PROPERTIES_FILE").filter(|p| !p.trim().is_empty()) {
        let invalid = |reason: String| SettingError {
            name: "KAFKA_PROPERTIES_FILE",
            value: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(path.trim()).map_err(|e| invalid(e.to_string()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => {
                    properties.push((key.trim().to_owned(), value.trim().to_owned()));
                }
                _ => return Err(invalid(format!("line {} is not key=value", number + 1))),
            }
        }
    }
    let inline = lookup("KAFKA_PROPERTIES")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| inline_default.to_owned());
    for pair in inline.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                properties.push((key.trim().to_owned(), value.trim().to_owned()));
            }
            _ => {
                return Err(SettingError {
                    name: "KAFKA_PROPERTIES",
                    value: inline.clone(),
                    reason: format!("{pair:?} is not key=value"),
                })
            }
        }
    }
    Ok(properties)
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
    fn kafka_properties_come_from_the_file_then_the_inline_list() {
        let path = std::env::temp_dir().join(format!("b2-props-{}.properties", std::process::id()));
        std::fs::write(
            &path,
            "# TLS and SASL\nsecurity.protocol=sasl_ssl\n\nssl.cipher.suites = A,B:C\n\
             sasl.jaas.config=x required username=\"u\" password=\"p,q\";\n",
        )
        .expect("write");
        let file = path.to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "KAFKA_PROPERTIES_FILE" => Some(file.clone()),
            "KAFKA_PROPERTIES" => Some("linger.ms=5, security.protocol=ssl".into()),
            _ => None,
        };
        let properties = kafka_properties(&env, "fetch.wait.max.ms=10").expect("valid");
        let _ = std::fs::remove_file(&path);
        let pairs: Vec<(&str, &str)> = properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("security.protocol", "sasl_ssl"),
                ("ssl.cipher.suites", "A,B:C"),
                (
                    "sasl.jaas.config",
                    "x required username=\"u\" password=\"p,q\";"
                ),
                ("linger.ms", "5"),
                ("security.protocol", "ssl"),
            ]
        );
        let defaults = kafka_properties(&|_| None, "fetch.wait.max.ms=10").expect("valid");
        assert_eq!(
            defaults,
            [("fetch.wait.max.ms".to_owned(), "10".to_owned())]
        );
    }

    #[test]
    fn a_bad_property_names_its_setting() {
        let missing =
            |name: &str| (name == "KAFKA_PROPERTIES_FILE").then(|| "/no/such.properties".into());
        let err = kafka_properties(&missing, "").expect_err("missing file");
        assert_eq!(err.name, "KAFKA_PROPERTIES_FILE");
        let bad = |name: &str| (name == "KAFKA_PROPERTIES").then(|| "a=1,b".into());
        let err = kafka_properties(&bad, "").expect_err("not key=value");
        assert_eq!(err.name, "KAFKA_PROPERTIES");
        assert!(err.to_string().contains("\"b\" is not key=value"), "{err}");
    }

    #[test]
    fn a_listed_name_is_a_whole_name() {
        assert!(lists("KAFKA_TOPIC=traffic-events\n", "KAFKA_TOPIC"));
        assert!(!lists("KAFKA_TOPIC_X=1\n", "KAFKA_TOPIC"));
        assert!(!lists("# KAFKA_TOPIC=1\n", "KAFKA_TOPIC"));
    }
}
