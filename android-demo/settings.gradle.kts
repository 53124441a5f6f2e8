// Ferry's Android demo: the `ferry-android` library (the WorkManager shim + the AAR from
// `cargo xtask aar`) and the Compose `app`. Needs the Android SDK and Google's Maven
// repository; neither is reachable on the Linux machines Ferry is tested on, so this build
// has not been run there (see README, "Adopting Ferry on iOS / Android").
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
        // rustls-platform-verifier's Kotlin half, published by its authors (see its README).
        maven { url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/") }
    }
}

rootProject.name = "ferry-android-demo"
include(":ferry-android", ":app")
