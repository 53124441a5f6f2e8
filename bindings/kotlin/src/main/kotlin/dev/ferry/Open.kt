// Kotlin sugar over the generated constructors: one way to open a queue, with default
// arguments, and a configuration made from its database path alone.
package dev.ferry

/** Every setting at its default ([defaultQueueConfig]); `copy` it to change what you need. */
fun QueueConfig(databasePath: String): QueueConfig = defaultQueueConfig(databasePath)

/**
 * Opens (or creates) the queue at `config.databasePath`, with an OS background-transfer
 * service and a request authorizer when given: one call for the four generated
 * constructors (`open`, `openWithPlatform`, `openWithAuthorizer`, `openWithServices`).
 *
 * @throws FerryException as those do (a database another process holds, a setting out of
 *   range).
 */
suspend fun TransferQueue.Companion.open(
    config: QueueConfig,
    platform: PlatformTransferService? = null,
    authorizer: RequestAuthorizer? = null,
): TransferQueue =
    when {
        platform != null && authorizer != null -> openWithServices(config, platform, authorizer)
        platform != null -> openWithPlatform(config, platform)
        authorizer != null -> openWithAuthorizer(config, authorizer)
        else -> open(config)
    }
