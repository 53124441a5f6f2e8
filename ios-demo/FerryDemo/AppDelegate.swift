// Background-session wiring: iOS relaunches the app when its uploads have events, and the
// shim (created at launch with the same session identifier) receives them; the completion
// handler waits in BackgroundSessionEvents until the session says it has delivered all.
import UIKit
import FerryBackgroundTransfers

final class AppDelegate: NSObject, UIApplicationDelegate {
    let model = UploadModel()

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        // Creating the service recreates the background session, which lets iOS deliver
        // events queued while the app was not running; then Ferry opens and replays them.
        Task { await model.start() }
        return true
    }

    func application(
        _ application: UIApplication,
        handleEventsForBackgroundURLSession identifier: String,
        completionHandler: @escaping () -> Void
    ) {
        BackgroundSessionEvents.shared.store(identifier: identifier, completionHandler: completionHandler)
    }

    func applicationDidEnterBackground(_ application: UIApplication) {
        Task { await model.appStateChanged(foreground: false) }
    }

    func applicationWillEnterForeground(_ application: UIApplication) {
        Task { await model.appStateChanged(foreground: true) }
    }
}
