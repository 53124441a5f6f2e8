// The demo app's entry point: one UploadModel for the app's life, and the app delegate
// that hands iOS's background-session events to Ferry's shim.
import SwiftUI

@main
struct FerryDemoApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate

    var body: some Scene {
        WindowGroup {
            ContentView(model: appDelegate.model)
        }
    }
}
