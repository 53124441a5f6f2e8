// Hand-written sugar over the UniFFI-generated constructors: one way to open a queue, with
// defaults, and a configuration made from its database path alone.

extension QueueConfig {
    /// Every setting at its default (`defaultQueueConfig(databasePath:)`); change the
    /// fields you need afterwards.
    public init(databasePath: String) {
        self = defaultQueueConfig(databasePath: databasePath)
    }
}

extension TransferQueue {
    /// Opens (or creates) the queue at `config.databasePath`, with an OS background-transfer
    /// service and a request authorizer when given: one call for the four generated
    /// constructors (`open`, `openWithPlatform`, `openWithAuthorizer`, `openWithServices`).
    ///
    /// - Throws: `FerryError` as those do (a database another process holds, a setting out
    ///   of range).
    public static func open(
        config: QueueConfig,
        platform: PlatformTransferService? = nil,
        authorizer: RequestAuthorizer? = nil
    ) async throws -> TransferQueue {
        switch (platform, authorizer) {
        case (nil, nil):
            return try await open(config: config)
        case (let platform?, nil):
            return try await openWithPlatform(config: config, platform: platform)
        case (nil, let authorizer?):
            return try await openWithAuthorizer(config: config, authorizer: authorizer)
        case (let platform?, let authorizer?):
            return try await openWithServices(config: config, platform: platform, authorizer: authorizer)
        }
    }
}
