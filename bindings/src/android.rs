//! Android only: the JNI entry point that lends the app's `Context` to
//! rustls-platform-verifier, so HTTPS certificates are checked by Android's own verifier
//! (the user's and the device's trust anchors), as the crate's README ("Crate
//! initialization") requires before any TLS connection.
//!
//! Kotlin calls it once per process, from `dev.ferry.android.FerryAndroid.init(context)`,
//! before the first queue opens. It must never do anything else: no queue, no policy.

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::jni_mangle;
use jni::objects::{JClass, JObject};

/// `external fun initPlatformVerifier(context: Context)` in `dev.ferry.android.FerryAndroid`.
/// A failure is thrown into Kotlin as a `RuntimeException`; calling it again is harmless.
#[jni_mangle("dev.ferry.android.FerryAndroid")]
pub fn init_platform_verifier<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    unowned_env
        .with_env(|env| rustls_platform_verifier::android::init_with_env(env, context))
        .resolve::<ThrowRuntimeExAndDefault>();
}
