//! `uniffi-bindgen`: UniFFI's bindings generator, built from this workspace so that its
//! version is always the `uniffi` that `ferry-ffi` links (a generator of another version
//! reads the library's metadata wrongly or refuses it).
//!
//! It only forwards to UniFFI's CLI; it must never grow options of its own. Run it on the
//! unstripped cdylib: stripping removes the metadata it reads.

fn main() {
    uniffi::uniffi_bindgen_main()
}
