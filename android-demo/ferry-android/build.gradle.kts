// The Android library apps depend on: the WorkManager / user-initiated-job shim
// (src/main/kotlin), the plain-Kotlin shim logic shared with the JVM test suite
// (../../bindings/kotlin/src/main/kotlin), the UniFFI Kotlin generated with android = true
// and the native libraries, both produced by `cargo xtask aar` into ../../target/android/.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

val ferryAndroidOut = rootProject.file("../target/android")

android {
    namespace = "dev.ferry.android"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].apply {
        java.srcDirs(
            "src/main/kotlin",
            rootProject.file("../bindings/kotlin/src/main/kotlin"),
            File(ferryAndroidOut, "kotlin"),
        )
        jniLibs.srcDirs(File(ferryAndroidOut, "jniLibs"))
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

// rustls-platform-verifier's Kotlin component must match the crate in Cargo.lock exactly
// (its README, "Gradle Setup"): read the version from the lock file.
val rustlsPlatformVerifierVersion: String = rootProject.file("../Cargo.lock").readLines().let { lines ->
    val at = lines.indexOfFirst { it.trim() == "name = \"rustls-platform-verifier-android\"" }
    require(at >= 0) { "rustls-platform-verifier-android not found in Cargo.lock" }
    lines.drop(at + 1).first { it.trimStart().startsWith("version = ") }.substringAfter('"').substringBefore('"')
}

dependencies {
    // JNA as an AAR: it carries libjnidispatch.so for every Android ABI.
    api("net.java.dev.jna:jna:5.17.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
    implementation("androidx.core:core-ktx:1.15.0")
    // ProcessLifecycleOwner, for QueueLifecycle: the app's foreground/background state.
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
    implementation("rustls:rustls-platform-verifier:$rustlsPlatformVerifierVersion")
}
