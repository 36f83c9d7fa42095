//! Where the workspace's binaries are. Cargo puts them in the profile directory (`target/debug`,
//! `target/release`); a bench tool runs from there, a test executable from its `deps/` folder.

use std::path::PathBuf;

use crate::Error;

/// The built binary `name` of this workspace, found beside the running executable or one folder
/// up.
pub fn workspace_binary(name: &str) -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Spawn {
        program: name.to_owned(),
        source,
    })?;
    let folder = exe.parent().map(PathBuf::from).unwrap_or_default();
    let found = [Some(folder.as_path()), folder.parent()]
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    found.ok_or_else(|| Error::MissingBinary {
        name: name.to_owned(),
        folder,
    })
}
