//! With the `forecast` feature, embeds libtorch's library directory as an rpath so the binary
//! and its tests start without LD_LIBRARY_PATH. Without the feature torch-sys is not a
//! dependency, the variable is unset and nothing is linked.

fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
