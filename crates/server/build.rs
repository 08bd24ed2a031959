//! Compiles the one C file Keel needs: `long double` arithmetic for INCRBYFLOAT, which Rust
//! cannot express (see csrc/longdouble.c).

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new().file("csrc/longdouble.c").warnings(true).compile("keel_longdouble");
}
