//! Embeds libtorch's library directory as an rpath, so the crate's binaries and tests start
//! without LD_LIBRARY_PATH (otherwise they fail at load time on `libtorch_cpu.so`).

fn main() {
    // torch-sys declares `links = "tch"` and exports its lib dir as DEP_TCH_LIBTORCH_LIB.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
